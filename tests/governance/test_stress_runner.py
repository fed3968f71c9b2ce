"""The real round runner: one governed round of the stress task on Flower, over 3 full members and 1 lite member.

One simulation start for the module (a module-scoped fixture); the other tests need no Flower.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fedrisk.errors import ConfigError, GovernanceError
from fedrisk.governance import InMemoryStore
from fedrisk.governance.constitution_loader import parse_constitution
from fedrisk.governance.coordinator import Coordinator, Participant, RoundContext, RoundOutcome
from fedrisk.governance.model_store import latest_committed_model, model_path, save_round_model, weights_sha256
from fedrisk.governance.rights import Rights
from fedrisk.governance.sql_store import SqlStore
from fedrisk.governance.store import RoundCommit
from fedrisk.governance.stress_runner import StressRoundRunner, StressRunnerSettings, deliveries, stress_task
from synthetic import SIM_SPLIT, write_data_dir

from .helpers import STRESS_VENUES, FakeClock, constitution, stress_constitution_text

pytestmark = pytest.mark.federation
TIERS = {"alpha": "full", "beta": "full", "gamma": "full", "delta": "lite"}
SPLIT = SIM_SPLIT


def stress_settings(data_dir: Path, state_dir: Path) -> StressRunnerSettings:
    """Small and fast: one Flower round of 5 local steps of a tiny model."""
    return StressRunnerSettings(
        data_dir=data_dir, state_dir=state_dir, split=SPLIT, local_steps=5, window=12, hidden=8, num_cpus=2
    )


@dataclass
class Governed:
    state: Path
    store: SqlStore
    record_state: str
    round_id: int
    error: str | None
    digest: str | None
    states_seen: list[str]


@pytest.fixture(scope="module")
def governed(tmp_path_factory: pytest.TempPathFactory) -> Governed:
    data = write_data_dir(tmp_path_factory.mktemp("data"), STRESS_VENUES, n_hours=2700)
    state = tmp_path_factory.mktemp("state")
    rules, issues = parse_constitution(stress_constitution_text(TIERS))
    assert rules is not None, issues
    store = SqlStore(f"sqlite:///{state / 'coordinator.db'}")
    runner = StressRoundRunner(rules, store, stress_settings(data, state))
    seen: list[str] = []

    def watching(ctx: RoundContext) -> RoundOutcome:
        seen.append(store.get_round(ctx.round_id).state)  # type: ignore[union-attr]
        out = runner(ctx)
        seen.append(store.get_round(ctx.round_id).state)  # type: ignore[union-attr]
        return out

    clock = FakeClock(datetime(2024, 3, 5, 12, 0, tzinfo=UTC))
    coordinator = Coordinator(rules, store, watching, clock=clock)
    coordinator.recover()
    record = coordinator.run_now()
    return Governed(state, store, record.state, record.round_id, record.error, record.result_digest, seen)


def _receipts(g: Governed, member: str) -> list[dict[str, object]]:
    path = g.state / "rounds" / f"{g.round_id:06d}" / f"round-{g.round_id}" / "inbound" / f"{member}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_real_round_commits_and_publishes_its_model(governed: Governed) -> None:
    # Assert
    assert governed.record_state == "committed", governed.error
    assert governed.states_seen == ["running", "aggregating"]
    path = model_path(governed.state, governed.round_id)
    model = latest_committed_model(governed.store, governed.state)
    assert model is not None and model.round_id == governed.round_id
    assert model.sha256 == governed.digest == weights_sha256(model.weights)
    assert path.exists() and all(np.isfinite(w).all() for w in model.weights)


def test_contributions_cover_trainers_and_the_lite_evaluator(governed: Governed) -> None:
    # Act
    scores = {e.member_id: e.score for e in governed.store.contribution_entries()}
    rewards = {e.member_id: e.amount for e in governed.store.reward_entries()}
    # Assert: shares of the examples the round used; they sum to 1 and every participant has one
    assert set(scores) == set(TIERS)
    assert sum(scores.values()) == pytest.approx(1.0)
    assert all(0 < s < 1 for s in scores.values())
    assert sum(rewards.values()) == pytest.approx(10000.0)
    assert governed.store.privacy_entries() == []  # privacy mode "none": no ε is claimed


def test_lite_member_gets_the_index_never_the_model(governed: Governed) -> None:
    # Arrange
    release = json.loads(model_path(governed.state, governed.round_id).with_suffix(".json").read_text())
    lite = _receipts(governed, "delta")
    full = _receipts(governed, "alpha")
    # Assert: what the coordinator says it released
    assert release["trainers"] == ["alpha", "beta", "gamma"]
    assert "delta" not in release["model_sent_to"]
    assert set(release["index_sent_to"]) == set(TIERS)
    assert release["evaluations"]["delta"]["n-cells"] > 0
    assert release["metrics"]["index_cells_published"] > 0
    # Assert: what each member itself logged on receipt
    assert {r["message_type"] for r in lite} == {"query", "query.index"}
    assert not any(r["model_arrays"] for r in lite)
    kinds = {r["message_type"] for r in full if r["model_arrays"]}
    assert {"train", "query.score"} <= kinds
    sent = {sha for r in full if r["message_type"] == "query.score" for sha in r["model_sha256"]}  # type: ignore[attr-defined]
    assert sent == {governed.digest}


def test_deliveries_follow_tier_rights() -> None:
    # Arrange
    full = Rights(True, True, True, True)
    lite = Rights(False, True, False, True)
    bad = Rights(False, True, True, True)
    ps = (Participant("a", "full", full), Participant("b", "lite", lite))
    # Act
    d = deliveries(ps)
    # Assert
    assert (d.trainers, d.model, d.index, d.evaluators) == (("a",), ("a",), ("a", "b"), ("a", "b"))
    with pytest.raises(GovernanceError, match="may not receive the model"):
        deliveries((Participant("c", "odd", bad),))


def test_runner_accepts_the_modes_it_honours_and_refuses_the_others() -> None:
    # Arrange: the example asks for SecAgg+ with central DP (honoured); HE, local DP and other models are not
    example = constitution()
    he = constitution(**{'mode = "secagg+"': 'mode = "he"', 'model = "stgraph"': 'model = "mlp"'})
    local = constitution(**{'mode = "central-dp"': 'mode = "local-dp"'})
    # Act / Assert
    assert stress_task(example).name == "liquidity-stress"
    with pytest.raises(ConfigError) as err:
        stress_task(he)
    assert '"he"' in str(err.value) and '"mlp"' in str(err.value)
    with pytest.raises(ConfigError, match="local-dp"):
        stress_task(local)


def test_failed_round_keeps_the_previous_model(tmp_path: Path) -> None:
    # Arrange: round 1 committed with a model; round 2 wrote a model file but failed
    store = InMemoryStore()
    now = datetime(2024, 3, 6, tzinfo=UTC)
    w1 = [np.arange(4, dtype=np.float32)]
    w2 = [np.ones(4, dtype=np.float32)]
    for slot in ("s1", "s2"):
        store.open_round(slot=slot, trigger="manual", scheduled_for=now, participants=("a",), now=now)
    sha1 = save_round_model(tmp_path, 1, w1, {})
    save_round_model(tmp_path, 2, w2, {})
    store.transition_round(1, "running", now=now)
    store.transition_round(1, "aggregating", now=now)
    store.commit_round(1, RoundCommit(sha1), now=now)
    store.transition_round(2, "failed", now=now, error="killed")
    # Act
    model = latest_committed_model(store, tmp_path)
    # Assert
    assert model is not None and model.round_id == 1
    assert np.array_equal(model.weights[0], w1[0])


def test_tampered_model_is_refused(tmp_path: Path) -> None:
    # Arrange
    store = InMemoryStore()
    now = datetime(2024, 3, 6, tzinfo=UTC)
    store.open_round(slot="s1", trigger="manual", scheduled_for=now, participants=("a",), now=now)
    sha = save_round_model(tmp_path, 1, [np.zeros(3)], {})
    store.transition_round(1, "running", now=now)
    store.transition_round(1, "aggregating", now=now)
    store.commit_round(1, RoundCommit(sha), now=now)
    np.savez(model_path(tmp_path, 1), np.ones(3))
    # Act / Assert
    with pytest.raises(GovernanceError, match="was changed"):
        latest_committed_model(store, tmp_path)


def test_too_few_trainers_fail_the_round_before_any_training(tmp_path: Path) -> None:
    # Arrange: only two full members
    rules, _ = parse_constitution(stress_constitution_text({"a": "full", "b": "full", "c": "lite"}, min_members=3))
    assert rules is not None
    store = InMemoryStore()
    runner = StressRoundRunner(rules, store, stress_settings(tmp_path, tmp_path))
    coordinator = Coordinator(rules, store, runner, clock=FakeClock())
    coordinator.recover()
    # Act
    record = coordinator.run_now()
    # Assert
    assert record.state == "failed" and "QuorumError" in (record.error or "")
    assert not (tmp_path / "models").exists()
