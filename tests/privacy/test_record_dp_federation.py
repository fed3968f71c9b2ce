"""A federation run with ``dp_level = "record"`` on Flower's simulation engine (one start for the module).

Five synthetic members, two rounds of DP-SGD; member ``eps`` arrives with ε already spent, so its budget gate
refuses round 2 and the round runs with the four others.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from fedrisk.federation.coordinator import JobOutcome
from fedrisk.federation.member_node import load_member
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings
from fedrisk.federation.record_dp import RECORD_MODE, RecordDP, member_ledger
from fedrisk.federation.runner import run_plan
from fedrisk.privacy.accounting import GaussianStep, epsilon_for_history
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
FAST = TrainSettings(rounds=2, local_steps=4, batch_size=64, window=12, hidden=8)
Z, DELTA, PERIOD = 1.2, 1e-5, "2026-Q4"


class Run:
    """The job outcome and where members kept their ledgers and outbound logs."""

    def __init__(self, outcome: JobOutcome, settings: RecordDP, outbound: Path, q: dict[str, float]) -> None:
        self.outcome, self.settings, self.outbound, self.q = outcome, settings, outbound, q


def _eps(q: float, steps: int) -> float:
    return epsilon_for_history([GaussianStep(Z, q, steps)], delta=DELTA)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    data = write_data_dir(tmp_path_factory.mktemp("data"), VENUES, n_hours=2700)
    q = {
        m: FAST.batch_size / load_member(m, str(data), SPLIT, FAST.window, None).n_train for m in VENUES
    }  # what each member computes itself
    steps = FAST.local_steps
    # Budget: every member may run 2 rounds; "eps" has already spent one round's worth, so only 1 more fits.
    budget = max(_eps(q[m], 2 * steps) for m in VENUES) * 1.0001
    assert _eps(q["eps"], 3 * steps) > budget
    root = tmp_path_factory.mktemp("run")
    settings = RecordDP(
        epsilon_max=budget,
        noise_multiplier=Z,
        clip_norm=1.0,
        delta=DELTA,
        secure_mode=True,
        period=PERIOD,
        ledger_dir=str(root / "ledgers"),
    )
    member_ledger(settings, "eps").commit(
        "eps", round=1, level="record", noise_multiplier=Z, sample_rate=q["eps"], steps=steps, period=PERIOD
    )
    members = tuple(VENUES)
    job = Job("record", members, settings=FAST, record_dp=settings)
    plan = FederationPlan(
        members=members, jobs=(job,), split=SPLIT, sim_data_dir=str(data), outbound_dir=str(root / "outbound")
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (outcome,) = run_plan(plan)
    return Run(outcome, settings, root / "outbound" / "record", q)


def test_every_round_commits_and_the_over_budget_member_sits_out_round_two(run: Run) -> None:
    # Arrange
    history = run.outcome.history
    # Act
    contributors = [sorted(r.claims) for r in history]
    # Assert
    assert [r.status for r in history] == ["committed", "committed"]
    assert [r.members for r in history] == [5, 4]
    assert contributors == [sorted(VENUES), ["alpha", "beta", "delta", "gamma"]]
    assert all(r.train_loss == 0.0 for r in history)  # DP-SGD losses stay with the members


def test_each_members_ledger_matches_the_accountant_round_by_round(run: Run) -> None:
    # Arrange
    steps = FAST.local_steps
    for member in VENUES:
        # Act
        entries = member_ledger(run.settings, member).entries(member=member, level="record", period=PERIOD)
        # Assert
        assert len(entries) == 2
        assert [e.steps for e in entries] == [steps, steps]
        assert all(e.sample_rate == pytest.approx(run.q[member]) for e in entries)
        for k, entry in enumerate(entries, start=1):
            assert entry.epsilon_after == pytest.approx(_eps(run.q[member], k * steps), rel=1e-9)
        assert entries[-1].epsilon_after <= run.settings.epsilon_max


def test_outbound_logs_and_claims_state_the_privacy_parameters(run: Run) -> None:
    # Arrange
    claim = run.outcome.history[1].claims["alpha"]
    # Act
    sent = [json.loads(line) for line in (run.outbound / "alpha.jsonl").read_text().splitlines()]
    sent = [s for s in sent if s.get("type") == "sent"]
    # Assert
    assert [s["round"] for s in sent] == [1, 2]
    privacy = sent[1]["privacy"]
    assert privacy["mode"] == RECORD_MODE and privacy["z"] == Z and privacy["clip"] == 1.0
    assert privacy["steps"] == FAST.local_steps and privacy["secure_mode"] is True
    assert privacy["q"] == pytest.approx(run.q["alpha"], rel=1e-6)
    assert privacy["epsilon"] == pytest.approx(_eps(run.q["alpha"], 2 * FAST.local_steps), rel=1e-5)
    assert json.loads(str(claim["privacy-json"])) == privacy
    assert not (run.outbound / "eps.jsonl").read_text().count('"round":2')  # refused: nothing sent in round 2


def test_the_audit_record_states_what_the_member_logged_so_it_can_countersign(run: Run) -> None:
    # Arrange: the member entry the audit trail writes from a claim, and the member's own outbound log
    from fedrisk.audit import OutboundLog
    from fedrisk.audit.outbound import claim_mismatch
    from fedrisk.jobs.trail import _claimed_privacy

    claim = run.outcome.history[1].claims["gamma"]
    stated = {"sha256": claim["sha256"], "size": claim["size"], "privacy": _claimed_privacy(claim)}
    # Act
    (entry,) = OutboundLog(run.outbound / "gamma.jsonl").entries_for(2)
    # Assert
    assert claim_mismatch(stated, entry) is None
    assert claim_mismatch({**stated, "privacy": {"mode": RECORD_MODE}}, entry) is not None
