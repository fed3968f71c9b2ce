"""Privacy modes of the tabular federations: SecAgg+ equals plain aggregation, DP ε is recorded and gated.

One start of the simulation engine runs four secure jobs over four synthetic members (the fraud and credit
sections use exactly this path for their MLP: :func:`fedrisk.jobs.tabular._private_mlp`).
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from fedrisk.errors import ConfigError
from fedrisk.federation.dp import MemberDP
from fedrisk.federation.secagg import SecureOutcome
from fedrisk.federation.tabular import MemberTable, TabularJob, TabularPlan, initial_arrays, write_member_table
from fedrisk.federation.tabular_secure import run_tabular_secure, secure_jobs
from fedrisk.jobs.tabular import MemberData, TabularPrivacy, _Private, _private_report
from fedrisk.models.tabular import MLPTrain, Normaliser
from fedrisk.privacy.accounting import calibrate_noise, epsilon
from fedrisk.privacy.ledger import BudgetPolicy, PrivacyLedger, open_ledger

pytestmark = pytest.mark.federation

MEMBERS = ("m-1", "m-2", "m-3", "m-4")
ROUNDS = 2
TARGET = 8.0
DELTA = 1e-5


def _member(i: int) -> MemberData:
    rng = np.random.default_rng(100 + i)
    x = rng.normal(size=(300, 6))
    y = (x[:, 0] + 0.5 * x[:, 1] + rng.normal(scale=0.7, size=300) > 0.6).astype(np.int64)
    return MemberData(MEMBERS[i], x[:180], y[:180], x[180:240], y[180:240], x[240:], y[240:])


@pytest.fixture(scope="module")
def secure_run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    root = tmp_path_factory.mktemp("tables")
    members = [_member(i) for i in range(len(MEMBERS))]
    for m in members:  # already standardised: the normaliser is the identity
        write_member_table(root / f"{m.name}.npz", MemberTable(m.x_train, m.y_train, m.x_val, m.y_val))
    job = TabularJob("mlp", MEMBERS, "mlp", 6, rounds=ROUNDS, hidden=(8,), train=MLPTrain(steps=10, batch_size=32))
    plan = TabularPlan(MEMBERS, (job,), str(root))
    z = calibrate_noise(target_epsilon=TARGET, sample_rate=1.0, rounds=ROUNDS, delta=DELTA)
    dp = MemberDP(z, 0.5, secure_mode=False, period="p1", delta=DELTA)
    ledger: PrivacyLedger = open_ledger(
        root / "ledger.sqlite", BudgetPolicy.from_config({"epsilon_max": TARGET, "delta": DELTA})
    )
    secagg_jobs = secure_jobs(plan, job, "secagg")
    dp_job = secure_jobs(plan, job, "dp", dp=dp, reference=False)[0]
    over_budget = replace(dp_job, name="mlp-dp-again")  # same ledger period: every member is already at ε ≈ 8
    outcomes = run_tabular_secure([*secagg_jobs, dp_job, over_budget], num_members=len(MEMBERS), ledger=ledger)
    return {
        "outcomes": {o.job.name: o for o in outcomes},
        "ledger": ledger,
        "z": z,
        "init": initial_arrays(job),
        "members": members,
        "job": job,
    }


def _max_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b, strict=True))


def test_secagg_aggregate_equals_plain_aggregation(secure_run: dict[str, Any]) -> None:
    # Arrange
    out: dict[str, SecureOutcome] = secure_run["outcomes"]
    secure, plain = out["mlp-secagg"], out["mlp-plain-legacy"]
    # Act
    diff = _max_diff(secure.weights, plain.weights)
    moved = _max_diff(plain.weights, secure_run["init"])
    # Assert: same model up to SecAgg+'s quantisation (step 2 * 8 / 2**22 ≈ 4e-6 per value and round)
    assert secure.committed == [1, 2] and plain.committed == [1, 2]
    assert moved > 1e-2
    assert diff < 1e-4
    assert secure.history[0].plan == {"members": 4, "num_shares": 4, "threshold": 3, "tolerated_dropouts": 1}
    assert all(h.val_loss is not None for h in secure.history)


def test_dp_epsilon_is_recorded_per_member_and_within_target(secure_run: dict[str, Any]) -> None:
    # Arrange
    ledger: PrivacyLedger = secure_run["ledger"]
    expected = epsilon(noise_multiplier=secure_run["z"], sample_rate=1.0, rounds=ROUNDS, delta=DELTA)
    # Act
    spent = {m: ledger.spent(m, level="member", period="p1") for m in MEMBERS}
    # Assert
    assert secure_run["outcomes"]["mlp-dp"].committed == [1, 2]
    assert all(v == pytest.approx(expected, rel=1e-3) for v in spent.values())
    assert 7.0 < expected <= TARGET
    assert len(ledger.entries(member="m-1", level="member", period="p1")) == ROUNDS


def test_budget_gate_refuses_rounds_past_the_target(secure_run: dict[str, Any]) -> None:
    # Arrange
    again: SecureOutcome = secure_run["outcomes"]["mlp-dp-again"]
    # Act
    statuses = [h.status for h in again.history]
    # Assert: nothing released, the model did not move, nothing more charged
    assert statuses == ["refused", "refused"]
    assert set(again.history[0].refused) == set(MEMBERS)
    assert _max_diff(again.weights, secure_run["init"]) == 0.0
    assert len(secure_run["ledger"].entries(member="m-2", level="member", period="p1")) == ROUNDS


def test_private_report_has_epsilon_cost_and_member_rows(secure_run: dict[str, Any]) -> None:
    # Arrange
    out: dict[str, SecureOutcome] = secure_run["outcomes"]
    members: list[MemberData] = secure_run["members"]
    identity = Normaliser(mean=np.zeros(6), std=np.ones(6))
    spent = {m: round(secure_run["ledger"].spent(m, level="member", period="p1"), 4) for m in MEMBERS}
    private = _Private(
        privacy=TabularPrivacy(mode="dp", rounds=ROUNDS),
        rounds=ROUNDS,
        noise_multiplier=secure_run["z"],
        outcomes={"dp": out["mlp-dp"], "plain-legacy": out["mlp-plain-legacy"]},
        epsilon_spent=spent,
        ledger="ledger.sqlite",
        mlp_config=secure_run["job"].mlp_config(),
        seed=7,
    )
    rows = [{"f1_mlp_federated": 0.8, "auprc_mlp_federated": 0.9} for _ in MEMBERS]
    # Act
    report = _private_report(private, members, identity, rows)
    # Assert
    assert report["mode"] == "dp" and report["epsilon_spent_max"] == max(spent.values())
    assert [r["member"] for r in report["members"]] == list(MEMBERS)
    assert report["cost"]["round_time_ratio"] is not None and report["cost"]["round_time_ratio"] > 0
    assert 0.0 <= report["mean"]["auprc_private"] <= 1.0
    assert report["mean"]["auprc_plain_federated"] == pytest.approx(0.9)
    assert "not a sum" in report["trees"]


def test_trees_and_bad_privacy_settings_are_refused() -> None:
    # Arrange
    job = TabularJob("xgb", MEMBERS, "xgb", 6)
    plan = TabularPlan(MEMBERS, (job,), "/nonexistent")
    # Act / Assert
    with pytest.raises(ConfigError, match="not a sum"):
        secure_jobs(plan, job, "secagg")
    with pytest.raises(ConfigError, match="privacy mode"):
        TabularPrivacy(mode="he")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="target_epsilon"):
        TabularPrivacy(mode="dp", target_epsilon=0.0)
    with pytest.raises(ConfigError, match="needs MemberDP"):
        secure_jobs(plan, replace(job, model="mlp", name="mlp"), "dp")
