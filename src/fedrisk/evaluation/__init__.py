"""fedrisk.evaluation."""
