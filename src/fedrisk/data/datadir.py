"""Where datasets live: ``--data-dir`` > ``FEDRISK_DATA_DIR`` > the user cache (filled by pooch).

Library code never reads the environment: entry points pass ``env_value`` explicitly.
"""

from __future__ import annotations

from pathlib import Path

from fedrisk.errors import DataNotFoundError

ENV_VAR = "FEDRISK_DATA_DIR"


def user_cache_dir() -> Path:
    """The per-user cache that :mod:`fedrisk.data.registry` fills from the public origins."""
    import pooch

    return Path(pooch.os_cache("fedrisk"))


def resolve_data_dir(explicit: str | Path | None, *, env_value: str | None) -> Path:
    """Resolve the data directory by precedence and check that it exists.

    Parameters
    ----------
    explicit
        The ``--data-dir`` argument, if given.
    env_value
        The value of ``FEDRISK_DATA_DIR`` read by the entry point, if set.

    Raises
    ------
    DataNotFoundError
        When the chosen directory does not exist; the message says how to fix it.
    """
    if explicit is not None and str(explicit) != "":
        return _existing(Path(explicit).expanduser(), source="--data-dir")
    if env_value:
        return _existing(Path(env_value).expanduser(), source=ENV_VAR)
    return user_cache_dir()


def _existing(path: Path, *, source: str) -> Path:
    if not path.is_dir():
        raise DataNotFoundError(
            f"data directory {path} (from {source}) does not exist. Fix: pass --data-dir pointing at a folder "
            f"laid out like shared/data (e.g. DIR/crypto-hourly-multivenue/raw/<venue>/*.csv), set {ENV_VAR}, "
            "or unset both to download the public files into the user cache."
        )
    return path.resolve()


def dataset_dir(data_dir: Path, name: str) -> Path:
    """The folder of one dataset inside a data directory, with an actionable error when absent."""
    path = data_dir / name
    if not path.is_dir():
        raise DataNotFoundError(
            f"dataset '{name}' not found in {data_dir} (expected the folder {path}). Fix: copy or link the "
            f"dataset there, point --data-dir / {ENV_VAR} at a directory that has it, or run "
            f"`fedrisk data fetch {name}` to download it from its public origin into the user cache."
        )
    return path
