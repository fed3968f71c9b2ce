"""fedrisk.serving."""
