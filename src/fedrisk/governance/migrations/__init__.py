"""Alembic migrations of the coordinator's state (applied programmatically on open)."""
