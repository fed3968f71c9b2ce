"""Pick a :class:`CoordinatorStore` from a URL or a state directory."""

from __future__ import annotations

from pathlib import Path

from fedrisk.errors import ConfigError
from fedrisk.governance.in_memory_store import InMemoryStore
from fedrisk.governance.sql_store import SqlStore
from fedrisk.governance.store import CoordinatorStore

MEMORY_URL = "memory://"
STATE_DB_NAME = "coordinator.db"


def state_url(state_dir: Path) -> str:
    """Return the SQLite URL of the state database inside ``state_dir`` (created if needed)."""
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ConfigError(f"cannot create state directory {state_dir}: {err}") from err
    return f"sqlite:///{(state_dir / STATE_DB_NAME).resolve()}"


def create_store(url: str | None = None, *, state_dir: Path | None = None) -> CoordinatorStore:
    """Open the coordinator store.

    Parameters
    ----------
    url:
        ``memory://`` for an in-memory store, or any SQLAlchemy URL (``sqlite:///...``,
        ``postgresql+psycopg://...``). Takes precedence over ``state_dir``.
    state_dir:
        Directory holding the default SQLite file ``coordinator.db``.

    Raises
    ------
    ConfigError
        When neither is given, or the URL or directory cannot be used.
    """
    if url == MEMORY_URL:
        return InMemoryStore()
    if url is not None:
        return SqlStore(url)
    if state_dir is not None:
        return SqlStore(state_url(state_dir))
    raise ConfigError("no coordinator state given: pass --state-dir DIR or --db-url URL")


__all__ = ["MEMORY_URL", "STATE_DB_NAME", "create_store", "state_url"]
