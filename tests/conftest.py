"""Test-wide hygiene: offline switches, no leaking FEDRISK_* settings, the shared data dir when present, and the one
`fedrisk demo --quick` run that the end-to-end and the report tests read."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(scope="session")
def demo_quick_run(shared_data_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], str]:
    """``fedrisk demo --quick`` on the shared data, once per session, as a real CLI subprocess (Ray in its own
    process): its run directory, its results.json and its console output. Readers copy it; none modifies it."""
    base = tmp_path_factory.mktemp("demo")
    out = base / "quick"
    env = {**os.environ, **OFFLINE_ENV, "FEDRISK_HOME": str(base / "home")}
    args = ["demo", "--quick", "--data-dir", str(shared_data_dir), "--out", str(out)]
    proc = subprocess.run(
        [sys.executable, "-m", "fedrisk.cli.app", *args], capture_output=True, text=True, env=env, timeout=1200
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out, json.loads((out / "results.json").read_text()), proc.stderr + proc.stdout
