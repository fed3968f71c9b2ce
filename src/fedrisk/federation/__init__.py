"""fedrisk.federation."""
