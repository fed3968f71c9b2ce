"""fedrisk.contribution."""
