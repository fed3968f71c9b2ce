"""Governance: coordinator recovery after a crash, and the cost of the demo's governance section.

No Flower: the round-latency figures of the real runner come from ``tests/governance/test_stress_restart.py``
(``-m slow -s``) and ``fedrisk round now`` (see docs/governance.md).

    .venv/bin/python -m bench.bench_governance
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fedrisk.governance.coordinator import Coordinator, builtin_runner
from fedrisk.governance.sql_store import SqlStore
from fedrisk.governance.store_factory import state_url
from fedrisk.jobs.governance import load_demo_constitution, run_governance_section
from fedrisk.jobs.stress_config import ALL_MEMBERS


def _recovery_s(state: Path, history: int) -> float:
    """Seconds of ``recover()`` on a SQLite store with ``history`` committed rounds and one interrupted round."""
    rules = load_demo_constitution(None).rules
    store = SqlStore(state_url(state))
    now = datetime(2024, 3, 6, 2, tzinfo=UTC)
    coordinator = Coordinator(rules, store, builtin_runner, clock=lambda: now)
    coordinator.recover()
    for i in range(history):
        coordinator.run_round(slot=f"s{i}", trigger="manual", scheduled_for=now + timedelta(minutes=i))
    store.open_round(slot="killed", trigger="schedule", scheduled_for=now, participants=ALL_MEMBERS, now=now)
    store.close()
    reopened = SqlStore(state_url(state))  # a restarted process: open (migration check) and recover
    start = time.perf_counter()
    report = Coordinator(rules, reopened, builtin_runner, clock=lambda: now).recover()
    elapsed = time.perf_counter() - start
    assert len(report.failed_round_ids) == 1
    reopened.close()
    return elapsed


def _stress(rounds: int) -> dict[str, Any]:
    history = [
        {
            "round": r,
            "status": "committed",
            "members": len(ALL_MEMBERS),
            "val_loss": 0.5,
            "claims": {m: {"member": m, "sha256": f"{m}{r}", "size": 46340} for m in ALL_MEMBERS},
        }
        for r in range(1, rounds + 1)
    ]
    return {
        "members": [{"member": m, "train_hours": 8000.0 + 100 * i} for i, m in enumerate(ALL_MEMBERS)],
        "federation": {"jobs": {"federated": {"cohort": list(ALL_MEMBERS), "history": history}}},
    }


def main() -> dict[str, float]:
    """Measure and print recovery and section costs."""
    out: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for history in (0, 100):
            out[f"recover_s_history_{history}"] = _recovery_s(Path(tmp) / f"state-{history}", history)
        rules = load_demo_constitution(None)
        for rounds in (3, 10):
            start = time.perf_counter()
            run_governance_section(rules, _stress(rounds), Path(tmp) / f"run-{rounds}")
            out[f"section_s_{rounds}_rounds_7_members"] = time.perf_counter() - start
    width = max(len(k) for k in out)
    for key, value in out.items():
        print(f"{key:<{width}}  {value * 1000:8.1f} ms")
    return out


if __name__ == "__main__":
    main()
