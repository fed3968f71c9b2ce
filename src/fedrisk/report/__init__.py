"""fedrisk.report."""
