"""Restart safety with a real coordinator process killed (SIGKILL) mid-round."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from fedrisk.governance.coordinator import INTERRUPTED
from fedrisk.governance.sql_store import SqlStore
from fedrisk.governance.store_factory import state_url

from .helpers import EXAMPLE


def _spawn(tmp_path: Path, *extra: str) -> subprocess.Popen[str]:
    # The coordinator group's own entry point: same command as `fedrisk coordinator run`, without
    # importing the other command groups (torch, Flower) so the process starts in well under a second.
    cmd = [
        sys.executable,
        "-m",
        "fedrisk.cli.coordinator",
        "run",
        "--constitution",
        "c.toml",
        "--state-dir",
        "state",
        "--runner",
        "synthetic",
    ]
    return subprocess.Popen(
        [*cmd, *extra],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
    )


def _wait_for_running(store: SqlStore, timeout_s: float) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = [r for r in store.list_rounds() if r.state == "running"]
        if running:
            return running[0].round_id
        time.sleep(0.05)
    raise AssertionError("no round reached 'running' in time")


def test_sigkill_mid_round_then_restart(tmp_path: Path) -> None:
    # Arrange: a round every 2 seconds; the built-in runner spends 60 s in 'running'
    text = EXAMPLE.read_text(encoding="utf-8").replace('cron = "0 2 * * wed"', 'cron = "* * * * * */2"')
    (tmp_path / "c.toml").write_text(text)
    store = SqlStore(state_url(tmp_path / "state"))
    victim = _spawn(tmp_path, "--runner-delay", "60")
    try:
        killed_round = _wait_for_running(store, timeout_s=20)
        # Act 1: kill it mid-round
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        if victim.poll() is None:
            victim.kill()
    assert victim.returncode == -signal.SIGKILL
    left = store.get_round(killed_round)
    assert left is not None and left.state == "running"
    # Act 2: restart, run the next round, exit
    started = time.perf_counter()
    restarted = _spawn(tmp_path, "--once")
    assert restarted.stdout is not None
    head = ""
    while "ready in" not in head and restarted.poll() is None:
        head += restarted.stdout.readline()
    to_ready_s = time.perf_counter() - started  # process start, imports, migrations check, recovery
    rest, _ = restarted.communicate(timeout=30)
    total_s = time.perf_counter() - started
    out = head + rest
    # Assert
    assert restarted.returncode == 0, out
    after = store.get_round(killed_round)
    assert after is not None and after.state == "failed" and after.error == INTERRUPTED
    rounds = store.list_rounds()
    committed = [r for r in rounds if r.state == "committed"]
    assert committed and committed[-1].round_id > killed_round
    assert len({r.slot for r in rounds}) == len(rounds)
    privacy_rounds = [e.round_id for e in store.privacy_entries()]
    assert killed_round not in privacy_rounds
    assert sorted(set(privacy_rounds)) == [r.round_id for r in committed]
    assert len(privacy_rounds) == 5 * len(committed)  # 5 full members, each charged once per round
    match = re.search(r"ready in ([0-9.]+) s \(recovery ([0-9.]+) ms\)", out)
    assert match is not None, out
    ready_s, recovery_ms = float(match.group(1)), float(match.group(2))
    assert f"round {killed_round} (" in out and "marked failed" in out
    assert recovery_ms < 2_000 and ready_s < 5
    print(
        f"\nrestart: recovery {recovery_ms:.1f} ms; ready {ready_s:.3f} s after imports; "
        f"process start to ready {to_ready_s:.2f} s; next round committed {total_s:.2f} s after start"
    )
    store.close()
