"""fedrisk.jobs."""
