"""The real runner under SecAgg+ with member-level DP: a round spends its ε, the budget gate stops the next one.

Two simulation starts (SecAgg+ training over the full members, then scoring and the index over everyone), so the
module is marked ``slow``: ``pytest tests/governance/test_stress_runner_secure.py -m slow``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fedrisk.governance.constitution_loader import parse_constitution
from fedrisk.governance.coordinator import Coordinator
from fedrisk.governance.model_store import latest_committed_model, model_path
from fedrisk.governance.sql_store import SqlStore
from fedrisk.governance.stress_runner import LEDGER_FILE, StressRoundRunner
from fedrisk.privacy.ledger import open_ledger
from synthetic import write_data_dir

from .helpers import STRESS_VENUES, FakeClock, stress_constitution_text
from .test_stress_runner import TIERS, stress_settings

pytestmark = [pytest.mark.federation, pytest.mark.slow]


def test_secure_dp_round_spends_its_epsilon_and_the_budget_gate_stops_the_next(tmp_path: Path) -> None:
    # Arrange: SecAgg+ with central DP; 5 of the 8 ε budget per round, so a second round would overspend
    data = write_data_dir(tmp_path / "data", STRESS_VENUES, n_hours=2700)
    state = tmp_path / "state"
    state.mkdir()
    text = stress_constitution_text(TIERS)
    for old, new in {
        'mode = "none"': 'mode = "central-dp"',
        'mode = "plain"': 'mode = "secagg+"',
        "epsilon_per_round = 0.5": "epsilon_per_round = 5.0",
    }.items():
        assert old in text, old
        text = text.replace(old, new)
    rules, issues = parse_constitution(text)
    assert rules is not None, issues
    store = SqlStore(f"sqlite:///{state / 'coordinator.db'}")
    runner = StressRoundRunner(rules, store, stress_settings(data, state))
    clock = FakeClock(datetime(2024, 3, 5, 12, 0, tzinfo=UTC))
    coordinator = Coordinator(rules, store, runner, clock=clock)
    coordinator.recover()
    # Act
    first = coordinator.run_now()
    clock.sleep(7 * 24 * 3600.0)  # a week later, same budget year
    second = coordinator.run_now()
    # Assert: the first round trained under SecAgg+ and DP, spent at most its ε, and published its model
    assert first.state == "committed", first.error
    release = json.loads(model_path(state, first.round_id).with_suffix(".json").read_text())
    assert release["aggregation"] == "secagg+" and release["trainers"] == ["alpha", "beta", "gamma"]
    assert release["privacy"]["noise_multiplier"] > 0
    ledger = open_ledger(state / LEDGER_FILE)
    spent = {m: ledger.spent(m, level="member", period=release["privacy"]["ledger_period"]) for m in ("alpha", "beta")}
    assert all(0 < e <= 5.0 + 1e-9 for e in spent.values()), spent
    charged = {e.member_id: e.epsilon for e in store.privacy_entries()}
    assert charged == {"alpha": 5.0, "beta": 5.0, "gamma": 5.0}  # the lite member spends nothing
    assert "delta" not in release["model_sent_to"] and release["evaluations"]["delta"]["n-cells"] > 0
    # Assert: the second round is refused by the budget gate before any training, and publishes nothing
    assert second.state == "failed" and "QuorumError" in (second.error or "")
    model = latest_committed_model(store, state)
    assert model is not None and model.round_id == first.round_id
    assert not model_path(state, second.round_id).exists()
    store.close()
