"""fedrisk.data."""
