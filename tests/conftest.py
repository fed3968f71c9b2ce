"""Test-wide hygiene: offline switches, no leaking FEDRISK_* settings, the shared data dir when present."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from fedrisk._env import OFFLINE_ENV

_SHARED = os.environ.get("FEDRISK_DATA_DIR")


@pytest.fixture(autouse=True)
def _offline_and_clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key in [k for k in os.environ if k.startswith("FEDRISK_")]:
        monkeypatch.delenv(key)
    for key, value in OFFLINE_ENV.items():
        monkeypatch.setenv(key, value)
    yield


@pytest.fixture(scope="session")
def shared_data_dir() -> Path:
    """The shared public datasets (FEDRISK_DATA_DIR, as set by the Makefile and .ci/run); skip when absent."""
    if not _SHARED or not (Path(_SHARED) / "crypto-hourly-multivenue").is_dir():
        pytest.skip("FEDRISK_DATA_DIR with crypto-hourly-multivenue is not available (run through `make test`)")
    return Path(_SHARED)
