"""fedrisk.models."""
