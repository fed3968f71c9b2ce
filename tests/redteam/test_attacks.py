"""Every attack succeeds on the unprotected system (else the attack is broken); protections measured."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from fedrisk.cli.app import app
from fedrisk.errors import ConfigError, QuorumError
from fedrisk.federation.plan import Job
from fedrisk.privacy.attacks import free_riding, gradient_inversion, isolation, membership, poisoning
from fedrisk.privacy.attacks import property_inference as prop
from fedrisk.privacy.attacks._sim import Aggregation, single_thread
from fedrisk.privacy.attacks.result import AttackResult
from fedrisk.privacy.attacks.suite import format_table, run_suite


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    with single_thread():
        yield


def _by(rows: list[AttackResult], attack: str, defence: str | None = None) -> AttackResult:
    return next(r for r in rows if r.attack == attack and (defence is None or r.defence == defence))


def test_membership_inference_succeeds_unprotected_and_dp_brings_it_near_chance() -> None:
    # Act
    plain = membership.run("none", seed=0)
    dp = membership.run("dp", seed=0)
    # Assert
    assert _by(plain, "membership_loss_threshold").value > 0.65
    assert _by(plain, "membership_shadow_models").success
    assert _by(dp, "membership_loss_threshold").value < 0.58
    assert 0.5 < (_by(dp, "membership_loss_threshold").utility or 0.0) < 1.0  # utility is reported, and it costs


def test_gradient_inversion_recovers_the_record_unprotected_and_under_dp_but_not_under_he() -> None:
    # Act
    plain = gradient_inversion.run("none", seed=1)
    dp, he = (gradient_inversion.run(m, seed=1, optimise=False) for m in ("dp", "he"))
    # Assert: clipping alone does not stop the analytic attack (ratio is scale-invariant)
    assert _by(plain, "gradient_inversion_analytic").value < 1e-6
    assert _by(plain, "gradient_inversion_optimisation").value < 0.05
    assert _by(dp, "gradient_inversion_analytic").success
    assert _by(he, "gradient_inversion_analytic").value > 0.3


def test_analytic_inversion_is_exact_for_one_record() -> None:
    x = np.array([0.5, -1.0, 2.0])
    delta = np.array([0.3, -0.2])
    update = [np.outer(delta, x), delta, np.zeros((1, 2)), np.zeros(1)]
    np.testing.assert_allclose(gradient_inversion.analytic_inversion(update), x)


def test_property_inference_succeeds_on_individual_updates() -> None:
    rows = prop.run("none", seed=0)
    assert rows[0].value > 0.9 and rows[0].success


def test_isolation_is_blocked_everywhere_but_sybils_are_not() -> None:
    # Act
    released = isolation.attempt_isolation("none", seed=0)
    rows = isolation.run("he", seed=0)
    # Assert
    assert released and not any(released.values())
    assert _by(rows, "isolation_small_cohort").value == 0.0
    assert _by(rows, "isolation_sybil_cohort").success  # honest: the rule counts identities, not honest members


def test_min_cohort_rule_in_plan_coordinator_and_aggregators() -> None:
    with pytest.raises(ConfigError):
        Job(name="one", cohort=("target",))
    with pytest.raises(ConfigError):
        Job(name="two", cohort=("target", "target", "x"))  # duplicates do not count
    for mode in ("none", "dp", "he", "all"):
        with pytest.raises(QuorumError):
            Aggregation(mode=mode)([[np.zeros(3)], [np.ones(3)]])


def test_backdoor_succeeds_unprotected_and_robust_aggregation_is_measured() -> None:
    rows = poisoning.run("none", seed=0)
    mean = _by(rows, "backdoor_poisoning", "mean")
    assert mean.success and mean.value > mean.chance + 0.3
    assert {r.defence for r in rows} == {"mean", "median", "trimmed_mean"}
    assert all(0.0 <= r.value <= 1.0 and r.utility is not None for r in rows)


def test_robust_aggregators() -> None:
    ups = [[np.array([1.0, 2.0])], [np.array([2.0, 3.0])], [np.array([100.0, -50.0])]]
    np.testing.assert_allclose(poisoning.coordinate_median(ups)[0], [2.0, 2.0])
    np.testing.assert_allclose(poisoning.trimmed_mean(ups, 1)[0], [2.0, 2.0])
    with pytest.raises(ValueError):
        poisoning.trimmed_mean(ups, 2)


def test_free_rider_harvests_the_model_and_is_detected_only_when_updates_are_visible() -> None:
    plain = free_riding.run("none", seed=0)
    sealed = free_riding.run("he", seed=0)
    assert all(r.value == 0.0 for r in plain)  # detected every round
    assert all((r.utility or 0.0) > 0.7 for r in plain)  # it did harvest a useful model
    assert all(r.success for r in sealed)  # honest: under HE nobody can run the detector


def test_suite_rejects_unknown_attack() -> None:
    with pytest.raises(ConfigError):
        run_suite(attacks=("nope",))


def test_redteam_cli_writes_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrange: a fast suite (isolation only) so the CLI path is covered without minutes of training
    from fedrisk.privacy.attacks import suite

    monkeypatch.setattr(suite, "ATTACKS", {"isolation": isolation.run})
    # Act
    res = CliRunner().invoke(app, ["redteam", "--run", str(tmp_path), "--json"])
    # Assert
    assert res.exit_code == 0, res.output
    section = json.loads((tmp_path / "redteam.json").read_text())["redteam"]
    assert section["schema"] == 2 and set(section["modes"]) == {"none", "dp", "secagg", "he", "all"}
    assert section["stress_model"]["status"] == "not run"  # no results.json in tmp_path
    rows = section["synthetic"]["rows"]
    assert len(rows) == 8 and all("success" in r for r in rows)
    table = format_table([isolation.run("none", seed=0)[0]])
    assert "isolation_small_cohort" in table
    assert CliRunner().invoke(app, ["redteam", "--run", str(tmp_path / "missing")]).exit_code != 0
