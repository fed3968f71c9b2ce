"""fedrisk.governance."""
