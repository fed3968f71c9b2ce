"""Restart safety with the real runner: SIGKILL a coordinator mid-way through a federated stress round.

A real ``coordinator run --runner stress`` process (rounds every 10 s, three full members and one lite member of
the quick demo members on the shared data) is killed, with its Flower/Ray processes, while its first round is
``running``. The restarted coordinator fails that round, publishes nothing from it, and its next round trains from
the initial model and commits. Prints the measured recovery and next-round latency.

Marked ``slow`` (two coordinator processes, one full federated round: 80-140 s on 2 shared cores), so ``make test``
skips it: ``FEDRISK_DATA_DIR=../shared/data pytest tests/governance/test_stress_restart.py -m slow -s``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fedrisk.governance.coordinator import INTERRUPTED
from fedrisk.governance.model_store import latest_committed_model
from fedrisk.governance.sql_store import SqlStore
from fedrisk.governance.store import RoundRecord
from fedrisk.governance.store_factory import state_url

from .helpers import stress_constitution_text

pytestmark = [pytest.mark.federation, pytest.mark.data, pytest.mark.slow]  # 80-140 s: run with -m slow
TIERS = {"bitfinex": "full", "bitstamp": "full", "coinbase": "full", "kraken": "lite"}


def _spawn(tmp_path: Path, data_dir: Path, *extra: str) -> subprocess.Popen[str]:
    cmd = [sys.executable, "-m", "fedrisk.cli.coordinator", "run", "--constitution", "c.toml", "--state-dir", "state"]
    cmd += ["--runner", "stress", "--data-dir", str(data_dir), "--local-steps", "5", *extra]
    return subprocess.Popen(
        cmd,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=os.environ.copy(),
        start_new_session=True,  # its own process group: the kill takes Ray's processes too
    )


def _descendants(pid: int) -> list[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        kids = parents.get(todo.pop(), [])
        out += kids
        todo += kids
    return out


def _kill_tree(proc: subprocess.Popen[str]) -> None:
    """SIGKILL the process, its process group and every descendant it started (Ray's raylet, GCS, workers)."""
    tree = _descendants(proc.pid)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    proc.wait(timeout=20)


def test_sigkill_during_a_real_round_then_restart(tmp_path: Path, shared_data_dir: Path) -> None:
    # Arrange: a round every 10 seconds, run-once catch-up
    (tmp_path / "c.toml").write_text(stress_constitution_text(TIERS, cron="* * * * * */10"))
    store = SqlStore(state_url(tmp_path / "state"))
    victim = _spawn(tmp_path, shared_data_dir)
    try:
        deadline = time.monotonic() + 60
        running: list[RoundRecord] = []
        while not running and time.monotonic() < deadline:
            running = [r for r in store.list_rounds() if r.state == "running"]
            time.sleep(0.1)
        assert running, "no round reached 'running'"
        time.sleep(3.0)  # the simulation engine is starting: kill in the middle of the federated round
        # Act 1
        _kill_tree(victim)
    finally:
        if victim.poll() is None:
            _kill_tree(victim)
    killed = running[0].round_id
    assert store.get_round(killed).state == "running"  # type: ignore[union-attr]
    # Act 2: restart and run the next round
    started, started_wall = time.perf_counter(), time.time()
    restarted = _spawn(tmp_path, shared_data_dir, "--once")
    try:
        out, _ = restarted.communicate(timeout=240)
    finally:
        if restarted.poll() is None:
            _kill_tree(restarted)
    total_s = time.perf_counter() - started
    # Assert
    assert restarted.returncode == 0, out
    after = store.get_round(killed)
    assert after is not None and after.state == "failed" and after.error == INTERRUPTED
    committed = [r for r in store.list_rounds() if r.state == "committed"]
    assert len(committed) == 1 and committed[0].round_id > killed
    model = latest_committed_model(store, tmp_path / "state")
    assert model is not None and model.round_id == committed[0].round_id  # never the killed round's file
    assert "from the initial model" in out  # the killed round published nothing to continue from
    assert {e.round_id for e in store.contribution_entries()} == {committed[0].round_id}
    match = re.search(r"ready in ([0-9.]+) s \(recovery ([0-9.]+) ms\)", out)
    assert match is not None, out
    opened_s = committed[0].opened_at.timestamp() - started_wall
    round_s = (committed[0].updated_at - committed[0].opened_at).total_seconds()
    print(
        f"\nreal-runner restart: recovery {float(match.group(2)):.1f} ms; ready {float(match.group(1)):.2f} s "
        f"(imports of the runner included); next round opened {opened_s:.1f} s and committed {total_s:.1f} s after "
        f"process start (the round itself {round_s:.1f} s)"
    )
    store.close()
