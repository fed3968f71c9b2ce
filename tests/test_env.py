"""Nothing phones home: the offline switches are set by every entry point unless the user opts in."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fedrisk._env import OFFLINE_ENV, quiet_and_offline


def test_switches_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for key in OFFLINE_ENV:
        monkeypatch.setenv(key, "1" if key != "FLWR_DISABLE_UPDATE_CHECK" else "0")
    quiet_and_offline(allow_telemetry=False)
    assert os.environ["FLWR_TELEMETRY_ENABLED"] == "0"
    assert os.environ["FLWR_DISABLE_UPDATE_CHECK"] == "1"
    assert os.environ["RAY_USAGE_STATS_ENABLED"] == "0"


def test_opt_in_leaves_the_environment_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLWR_TELEMETRY_ENABLED", "1")
    quiet_and_offline(allow_telemetry=True)
    assert os.environ["FLWR_TELEMETRY_ENABLED"] == "1"


@pytest.mark.parametrize("module", ["fedrisk.cli.app", "fedrisk.federation.member_node"])
def test_entry_points_switch_off_telemetry_on_import(module: str) -> None:
    env = {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}
    code = (
        f"import os, {module}; "
        "print(os.environ.get('FLWR_TELEMETRY_ENABLED'), os.environ.get('RAY_USAGE_STATS_ENABLED'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["0", "0"]
