"""A real Flower simulation on small synthetic data: 3-member federation, dropouts, quorum.

One simulation (Ray starts once) runs several jobs; see tests/stress for the demo on real data.
"""

from __future__ import annotations

import numpy as np
import pytest

from fedrisk.errors import ConfigError, FederationError
from fedrisk.federation.coordinator import JobOutcome
from fedrisk.federation.plan import FederationPlan, Job, TrainSettings
from fedrisk.federation.runner import run_plan
from synthetic import SIM_SPLIT, SIM_VENUES, write_data_dir

pytestmark = pytest.mark.federation
VENUES = SIM_VENUES
SPLIT = SIM_SPLIT
FAST = TrainSettings(rounds=2, local_steps=5, batch_size=64, window=12, hidden=8)


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> tuple[list[JobOutcome], BaseException | None]:
    data = write_data_dir(tmp_path_factory.mktemp("data"), VENUES, n_hours=2700)
    three = ("alpha", "beta", "gamma")
    everyone = tuple(VENUES)
    plan = FederationPlan(
        members=everyone,
        split=SPLIT,
        sim_data_dir=str(data),
        jobs=(
            Job("three", three, settings=FAST),
            Job("prox", three, strategy="fedprox", settings=FAST).with_settings(proximal_mu=0.1),
            Job("one-drops", everyone, settings=FAST, drill_drop=("delta",), drill_from_round=2),
            Job("two-drop", everyone, settings=FAST, drill_drop=("gamma", "delta"), drill_from_round=1),
        ),
    )
    seen: list[JobOutcome] = []
    error: BaseException | None = None
    try:
        run_plan(plan, sink=seen.append)
    except FederationError as err:
        error = err
    return seen, error


def test_three_member_federation_trains_two_rounds(simulation: tuple[list[JobOutcome], BaseException | None]) -> None:
    outcomes, _ = simulation
    three = outcomes[0]
    assert three.job.name == "three"
    assert [h.status for h in three.history] == ["committed", "committed"]
    assert all(h.members == 3 for h in three.history)
    assert all(h.val_loss is not None and 0 < h.val_loss < 1.0 for h in three.history)
    assert three.best_round in (1, 2)
    assert all(np.isfinite(w).all() for w in three.weights)
    assert three.n_parameters == sum(w.size for w in three.weights)


def test_fedprox_runs_on_the_same_nodes(simulation: tuple[list[JobOutcome], BaseException | None]) -> None:
    outcomes, _ = simulation
    prox = outcomes[1]
    assert prox.job.strategy == "fedprox" and prox.job.settings.proximal_mu == 0.1
    assert [h.status for h in prox.history] == ["committed", "committed"]
    assert not all(np.array_equal(a, b) for a, b in zip(prox.weights, outcomes[0].weights, strict=True))


def test_one_member_dropping_out_mid_run_leaves_a_valid_round(
    simulation: tuple[list[JobOutcome], BaseException | None],
) -> None:
    outcomes, _ = simulation
    drop = outcomes[2]
    assert [h.members for h in drop.history] == [4, 3]  # round 2 aggregates the three survivors
    assert [h.status for h in drop.history] == ["committed", "committed"]


def test_too_many_dropouts_publish_nothing(simulation: tuple[list[JobOutcome], BaseException | None]) -> None:
    outcomes, error = simulation
    assert [o.job.name for o in outcomes] == ["three", "prox", "one-drops"]  # earlier jobs are kept
    assert isinstance(error, FederationError)
    assert "no round committed" in str(error)


def test_a_job_below_the_minimum_cohort_is_refused() -> None:
    with pytest.raises(ConfigError, match="at least 3"):
        Job("pair", ("alpha", "beta"))
    with pytest.raises(ConfigError, match="not in the federation"):
        FederationPlan(members=("a", "b", "c"), jobs=(Job("x", ("a", "b", "z")),))
