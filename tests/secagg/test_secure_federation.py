"""SecAgg+ on the stress federation: one Flower simulation (5 synthetic members) runs every check.

Jobs: one member drops after the share exchange; three drop (round fails, next round runs); plain legacy FedAvg;
DP + SecAgg+ with one member over budget in round 2; the secure-sum stress index.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from flwr.app import Context, RecordDict

from fedrisk.evaluation.early_warning import stress_index
from fedrisk.federation.dp import MemberDP, noise_source, private_update
from fedrisk.federation.member_node import MemberJob, build_model, load_member, local_train, parse_job
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings, job_config
from fedrisk.federation.record_dp import RecordDP, member_ledger
from fedrisk.federation.secagg import SecureJob, SecureOutcome, member_scores, run_secure
from fedrisk.models.stgraph import get_weights
from fedrisk.privacy.accounting import epsilon
from fedrisk.privacy.ledger import BudgetPolicy, PrivacyLedger, open_ledger
from fedrisk.privacy.secagg import IndexGrid, decode_index
from synthetic import SIM_SPLIT, write_data_dir

pytestmark = pytest.mark.federation
VENUES = {
    "alpha": ("BTC", "ETH"),
    "beta": ("BTC",),
    "gamma": ("BTC", "ETH"),
    "delta": ("ETH",),
    "eps": ("BTC", "ETH"),
}
SPLIT = SIM_SPLIT
FAST = TrainSettings(rounds=1, local_steps=5, batch_size=64, window=12, hidden=8)
DP = MemberDP(noise_multiplier=2.0, clip_norm=0.05, secure_mode=False, period="test")
DELTA = 1e-5


def _init() -> list[np.ndarray]:
    from fedrisk.federation.coordinator import initial_weights

    return initial_weights(Job("x", tuple(VENUES), settings=FAST))


class Run:
    """The simulation's outcomes and what the tests need to recompute members' updates."""

    def __init__(self, outcomes: dict[str, SecureOutcome], ledger: PrivacyLedger, config: dict[str, object]) -> None:
        self.outcomes, self.ledger, self.config = outcomes, ledger, config


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    data = write_data_dir(tmp_path_factory.mktemp("data"), VENUES, n_hours=2700)
    members = tuple(VENUES)
    plan = FederationPlan(
        members=members, split=SPLIT, sim_data_dir=str(data), jobs=(Job("j", members, settings=FAST),)
    )
    config = dict(job_config(plan, plan.jobs[0]))
    init = _init()
    eps1 = epsilon(noise_multiplier=DP.noise_multiplier, sample_rate=1.0, rounds=1, delta=DELTA)
    eps2 = epsilon(noise_multiplier=DP.noise_multiplier, sample_rate=1.0, rounds=2, delta=DELTA)
    policy = BudgetPolicy.from_config(
        {"epsilon_max": 100.0, "delta": DELTA, "members": {"eps": {"epsilon_max": (eps1 + eps2) / 2}}}
    )
    ledger = open_ledger(tmp_path_factory.mktemp("ledger") / "privacy_ledger.sqlite", policy)
    index_cfg = {
        **config,
        "index-start": SPLIT.test_start.isoformat(),
        "index-end": SPLIT.test_end.isoformat(),
        "index-assets": ["BTC", "ETH"],
    }
    jobs = [
        SecureJob("one-drops", config, init, rounds=1, drill=((1, ("gamma",)),)),  # type: ignore[arg-type]
        SecureJob("three-drop", config, init, rounds=2, drill=((1, ("alpha", "beta", "gamma")),)),  # type: ignore[arg-type]
        SecureJob("plain", config, init, rounds=1, secagg=None),  # type: ignore[arg-type]
        SecureJob("dp", config, init, rounds=2, dp=DP),  # type: ignore[arg-type]
        SecureJob("index", index_cfg, init, task="index"),  # type: ignore[arg-type]
        SecureJob("record", {**config, **_record(tmp_path_factory.mktemp("ledgers")).to_config()}, init),  # type: ignore[arg-type]
    ]
    outcomes = run_secure(jobs, num_members=len(members), ledger=ledger)
    return Run({o.job.name: o for o in outcomes}, ledger, config)


def _record(ledger_dir: Path) -> RecordDP:
    """Record-level DP-SGD with seeded (research) noise, so the test can recompute every member's update."""
    return RecordDP(
        epsilon_max=50.0, noise_multiplier=1.5, clip_norm=1.0, secure_mode=False, period="t", ledger_dir=str(ledger_dir)
    )


def _member_job(config: dict[str, object], member: str) -> MemberJob:
    context = Context(run_id=0, node_id=0, node_config={"member": member}, state=RecordDict(), run_config={})
    from flwr.app import ConfigRecord

    return parse_job(context, ConfigRecord(config))  # type: ignore[arg-type]


_UPDATES: dict[tuple[str, int], tuple[list[np.ndarray], int]] = {}


def _update(
    config: dict[str, object], member: str, weights: list[np.ndarray], server_round: int
) -> tuple[list[np.ndarray], int]:
    """A member's update from the *initial* weights (every job here starts from them), cached per (member, round)."""
    key = (member, server_round)
    if key not in _UPDATES:
        _UPDATES[key] = _compute_update(config, member, weights, server_round)
    return _UPDATES[key]


def _compute_update(
    config: dict[str, object], member: str, weights: list[np.ndarray], server_round: int
) -> tuple[list[np.ndarray], int]:
    job = _member_job(config, member)
    data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
    model = build_model(job, weights)
    local_train(job, data, model, server_round)
    return [n - o for n, o in zip(get_weights(model), weights, strict=True)], data.n_train


def _weighted_mean(updates: list[tuple[list[np.ndarray], int]]) -> list[np.ndarray]:
    total = sum(n for _, n in updates)
    return [sum(u[i] * n for u, n in updates) / total for i in range(len(updates[0][0]))]  # type: ignore[misc]


def test_one_dropout_after_share_exchange_aggregates_the_survivors(run: Run) -> None:
    # Arrange
    out = run.outcomes["one-drops"]
    survivors = ["alpha", "beta", "delta", "eps"]
    # Act
    expected = _weighted_mean([_update(run.config, m, out.job.init, 1) for m in survivors])
    # Assert
    assert [h.status for h in out.history] == ["committed"]
    assert out.history[0].members == 4
    assert out.history[0].plan == {"members": 5, "num_shares": 5, "threshold": 3, "tolerated_dropouts": 2}
    assert out.contributors[1] == survivors
    err = max(float(np.abs(a - b).max()) for a, b in zip(out.released[1], expected, strict=True))
    scale = max(float(np.abs(b).max()) for b in expected)
    assert scale > 1e-3  # a real update, not zeros
    assert err < 5e-5  # quantisation step 16 / 2**22 ≈ 3.8e-6 per member, weighted
    assert all(
        np.allclose(w, i + r, atol=1e-6) for w, i, r in zip(out.weights, out.job.init, out.released[1], strict=True)
    )


def test_too_many_dropouts_fail_the_round_cleanly_and_the_next_round_runs(run: Run) -> None:
    out = run.outcomes["three-drop"]
    assert [h.status for h in out.history] == ["failed", "committed"]
    assert out.history[0].members == 0 and "dropped" in out.history[0].reason
    assert 1 not in out.released  # no partial model published
    assert out.contributors[2] == sorted(VENUES)
    # round 2 started from the unchanged initial model
    expected = _weighted_mean([_update(run.config, m, out.job.init, 2) for m in sorted(VENUES)])
    err = max(float(np.abs(a - b).max()) for a, b in zip(out.released[2], expected, strict=True))
    assert err < 5e-5


def test_plain_legacy_fedavg_matches_secagg_within_quantisation(run: Run) -> None:
    plain, secure = run.outcomes["plain"], run.outcomes["three-drop"]
    assert plain.history[0].status == "committed" and plain.history[0].plan is None
    expected = _weighted_mean([_update(run.config, m, plain.job.init, 1) for m in sorted(VENUES)])
    err = max(float(np.abs(a - b).max()) for a, b in zip(plain.released[1], expected, strict=True))
    assert err < 1e-6  # no quantisation on the plain path
    assert secure.history[1].fit_s > 0 and plain.history[0].fit_s > 0


def test_dp_round_adds_distributed_noise_and_refuses_the_over_budget_member(run: Run) -> None:
    out = run.outcomes["dp"]
    assert [h.status for h in out.history] == ["committed", "committed"]
    assert out.contributors[1] == sorted(VENUES)
    assert out.contributors[2] == ["alpha", "beta", "delta", "gamma"]
    refusal = out.history[1].refused["eps"]
    assert "'eps'" in refusal and "spent ε=" in refusal and "would bring it to ε=" in refusal
    # Round 1 recomputed: clipped updates plus each member's seeded noise share, equal weights.
    std = DP.share_std(3)
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the seeded (research) noise source warns, as it must
        for m in sorted(VENUES):
            update, _ = _update(run.config, m, out.job.init, 1)
            src = noise_source(secure_mode=False, seed=FAST.seed, member=m, server_round=1)
            noised, _ = private_update(update, clip_norm=DP.clip_norm, share_std=std, source=src)
            parts.append((noised, 1))
    expected = _weighted_mean(parts)
    quant = 2 * max(8.0, DP.clip_norm + 8 * std) / 2**22  # the SecAgg+ range: the default ±8, or C + 8σ if larger
    err = max(float(np.abs(a - b).max()) for a, b in zip(out.released[1], expected, strict=True))
    assert err < quant  # a mean of 5 values, each rounded to within one step
    # Ledger: eps charged 1 round, the others 2; ε from the PLD accountant
    eps1 = epsilon(noise_multiplier=2.0, sample_rate=1.0, rounds=1, delta=DELTA)
    eps2 = epsilon(noise_multiplier=2.0, sample_rate=1.0, rounds=2, delta=DELTA)
    assert run.ledger.spent("eps", level="member", period="test") == pytest.approx(eps1, rel=1e-6)
    assert run.ledger.spent("alpha", level="member", period="test") == pytest.approx(eps2, rel=1e-6)


def test_secure_index_equals_the_plain_index(run: Run) -> None:
    out = run.outcomes["index"]
    grid = IndexGrid(SPLIT.test_start, SPLIT.test_end, ("BTC", "ETH"))
    mean_scores, mean_counts = out.released[1]
    secure = decode_index(mean_scores, mean_counts, out.history[0].members, grid)
    frames = []
    for m in VENUES:
        job = _member_job(run.config, m)
        data = load_member(job.member, str(job.data_dir), job.split, job.window, job.months)
        frames.append(member_scores(job, data, build_model(job, out.job.init)).assign(member=m))
    plain = stress_index(pd.concat(frames))
    merged = plain.merge(secure, on=["ts_utc", "asset"], suffixes=("_plain", "_secure"), how="outer")
    assert len(merged) == len(plain) == len(secure)
    assert (merged["members_plain"] == merged["members_secure"]).all()
    assert merged["index_plain"].isna().equals(merged["index_secure"].isna())
    assert merged["index_plain"].notna().sum() > 500
    diff = (merged["index_plain"] - merged["index_secure"]).abs().max()
    assert diff < 0.01  # index points (0-100 scale)


def test_index_of_too_few_survivors_is_refused() -> None:
    grid = IndexGrid(SPLIT.test_start, SPLIT.test_end, ("BTC",))
    with pytest.raises(Exception, match="at least 3"):
        decode_index(np.zeros(grid.shape), np.zeros(grid.shape), 2, grid)


def test_record_level_dp_under_secagg_aggregates_the_members_dp_sgd_updates(run: Run, tmp_path: Path) -> None:
    # Arrange
    out = run.outcomes["record"]
    settings = RecordDP.from_config(out.job.config)
    assert settings is not None
    replay = {**out.job.config, **_record(tmp_path).to_config()}  # same seeded DP-SGD, a separate ledger
    # Act
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        expected = _weighted_mean([_compute_update(replay, m, out.job.init, 1) for m in sorted(VENUES)])
    # Assert
    assert [h.status for h in out.history] == ["committed"] and out.contributors[1] == sorted(VENUES)
    err = max(float(np.abs(a - b).max()) for a, b in zip(out.released[1], expected, strict=True))
    assert err < 5e-5  # SecAgg+ quantisation only
    for m in VENUES:  # each member charged its own ledger once, at its own q
        entries = member_ledger(settings, m).entries(member=m, level="record", period="t")
        assert len(entries) == 1 and entries[0].steps == FAST.local_steps and entries[0].noise_multiplier == 1.5
