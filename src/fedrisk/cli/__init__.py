"""fedrisk.cli."""
