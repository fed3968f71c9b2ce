"""fedrisk.audit."""
