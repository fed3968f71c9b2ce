"""fedrisk.features."""
