"""fedrisk.privacy."""
