"""Accounting: known values, monotonicity, calibration, stateful accountants and their state."""

from __future__ import annotations

import math
from typing import Any

import pytest

from fedrisk.errors import ConfigError
from fedrisk.privacy.accounting import (
    GaussianStep,
    PLDAccountant,
    PrivacyAccountant,
    RDPAccountant,
    available_accountants,
    calibrate_noise,
    create_accountant,
    epsilon,
    epsilon_for_history,
    register_accountant,
)

KNOWN: dict[str, Any] = {"noise_multiplier": 1.0, "sample_rate": 0.1, "rounds": 50, "delta": 1e-5}


@pytest.mark.parametrize(("accountant", "expected"), [("pld", 5.148), ("rdp", 5.885)])
def test_known_values_q01(accountant: str, expected: float) -> None:
    # Act
    eps = epsilon(**KNOWN, accountant=accountant)
    # Assert
    assert eps == pytest.approx(expected, abs=1e-3)


def test_pld_matches_closed_form_gaussian_at_full_participation() -> None:
    # Arrange: without sampling, T Gaussian steps of multiplier z = one Gaussian of z / sqrt(T);
    # the analytic ε for z=1, T=50, δ=1e-5 is 54.38 (Balle & Wang 2018).
    # Act
    pld = epsilon(noise_multiplier=1.0, sample_rate=1.0, rounds=50, delta=1e-5, accountant="pld")
    rdp = epsilon(noise_multiplier=1.0, sample_rate=1.0, rounds=50, delta=1e-5, accountant="rdp")
    # Assert
    assert pld == pytest.approx(54.377, abs=2e-3)
    assert rdp == pytest.approx(57.302, abs=2e-3)


def test_more_noise_fewer_rounds_less_epsilon() -> None:
    # Act
    base = epsilon(**KNOWN)
    noisier = epsilon(**{**KNOWN, "noise_multiplier": 2.0})
    shorter = epsilon(**{**KNOWN, "rounds": 10})
    # Assert
    assert noisier == pytest.approx(1.6525, abs=1e-3)
    assert noisier < base and shorter < base


def test_edge_cases_no_noise_and_no_rounds() -> None:
    # Act / Assert
    assert epsilon(**{**KNOWN, "noise_multiplier": 0.0}) == math.inf
    assert epsilon(**{**KNOWN, "rounds": 0}) == 0.0
    assert epsilon_for_history([], delta=1e-5) == 0.0


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"noise_multiplier": -1.0}, "noise_multiplier must be"),
        ({"noise_multiplier": math.nan}, "noise_multiplier must be"),
        ({"sample_rate": 0.0}, "sample_rate must be in (0, 1]"),
        ({"sample_rate": 1.5}, "sample_rate must be in (0, 1]"),
        ({"rounds": -3}, "steps must be an integer"),
        ({"delta": 0.0}, "delta must be in (0, 1)"),
        ({"delta": 1.0}, "delta must be in (0, 1)"),
        ({"accountant": "gdp"}, "unknown accountant 'gdp'"),
    ],
)
def test_bad_arguments_are_refused_with_a_clear_message(override: dict[str, object], message: str) -> None:
    # Arrange
    kwargs: dict[str, object] = {**KNOWN, "accountant": "pld", **override}
    # Act / Assert
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        epsilon(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(("accountant", "expected"), [("pld", 1.3505), ("rdp", 1.4532)])
def test_calibrate_reaches_target_and_is_tight(accountant: str, expected: float) -> None:
    # Act
    z = calibrate_noise(
        target_epsilon=3.0, sample_rate=0.1, rounds=50, delta=1e-5, accountant=accountant, rel_tolerance=1e-3
    )
    # Assert
    assert z == pytest.approx(expected, abs=1e-3)
    kw = {"sample_rate": 0.1, "rounds": 50, "delta": 1e-5, "accountant": accountant}
    assert epsilon(noise_multiplier=z, **kw) <= 3.0  # type: ignore[arg-type]
    assert epsilon(noise_multiplier=z * 0.99, **kw) > 3.0  # type: ignore[arg-type]


def test_calibrate_refuses_bad_targets() -> None:
    # Act / Assert
    with pytest.raises(ConfigError, match="target_epsilon must be"):
        calibrate_noise(target_epsilon=0.0, sample_rate=0.1, rounds=50, delta=1e-5)
    with pytest.raises(ConfigError, match="rounds must be >= 1"):
        calibrate_noise(target_epsilon=1.0, sample_rate=0.1, rounds=0, delta=1e-5)
    with pytest.raises(ConfigError, match="no noise multiplier <= 4"):
        calibrate_noise(target_epsilon=0.01, sample_rate=1.0, rounds=50, delta=1e-5, max_noise_multiplier=4)


@pytest.mark.parametrize("name", ["pld", "rdp"])
def test_stateful_accountant_matches_pure_function(name: str) -> None:
    # Arrange
    acc = create_accountant(name)
    # Act: 50 single steps, composed one at a time
    for _ in range(50):
        acc.step(noise_multiplier=1.0, sample_rate=0.1)
    # Assert
    assert acc.total_steps == 50
    assert acc.history == (GaussianStep(1.0, 0.1, 50),)
    assert acc.get_epsilon(1e-5) == pytest.approx(epsilon(**KNOWN, accountant=name), rel=1e-9)


def test_heterogeneous_composition_lies_between_its_parts() -> None:
    # Arrange
    acc = create_accountant("pld")
    # Act
    acc.step(noise_multiplier=1.0, sample_rate=0.1, steps=25)
    acc.step(noise_multiplier=2.0, sample_rate=0.05, steps=25)
    acc.step(noise_multiplier=1.0, sample_rate=0.1, steps=25)
    eps = acc.get_epsilon(1e-5)
    # Assert: merged by parameters, and bounded by the homogeneous runs
    assert acc.history == (GaussianStep(1.0, 0.1, 50), GaussianStep(2.0, 0.05, 25))
    lone = epsilon(**KNOWN)
    assert lone < eps < epsilon(**{**KNOWN, "rounds": 75})


def test_state_dict_round_trip_and_validation() -> None:
    # Arrange
    acc = create_accountant("pld")
    acc.step(noise_multiplier=1.0, sample_rate=0.1, steps=50)
    state = acc.state_dict()
    # Act
    restored = create_accountant("pld")
    restored.load_state_dict(state)
    # Assert
    assert restored.get_epsilon(1e-5) == acc.get_epsilon(1e-5)
    with pytest.raises(ConfigError, match="state is for 'pld'"):
        create_accountant("rdp").load_state_dict(state)
    with pytest.raises(ConfigError, match="version"):
        restored.load_state_dict({**state, "version": 99})
    with pytest.raises(ConfigError, match=r"history\[0\]: sample_rate must be"):
        restored.load_state_dict({**state, "history": [[1.0, 2.0, 5]]})
    with pytest.raises(ConfigError, match=r"history\[0\] must be \[z, q, steps\]"):
        restored.load_state_dict({**state, "history": [[1.0, 0.1]]})
    assert restored.total_steps == 50  # unchanged after refused loads


def test_registry_refuses_silent_override_and_unknown_names() -> None:
    # Arrange
    class Custom(RDPAccountant):
        mechanism = "rdp"

    # Act / Assert
    assert set(available_accountants()) >= {"pld", "rdp"}
    assert isinstance(create_accountant("pld"), PLDAccountant)
    with pytest.raises(ConfigError, match="already registered"):
        register_accountant("rdp", Custom)
    with pytest.raises(ConfigError, match="unknown accountant 'prv'"):
        create_accountant("prv")
    with pytest.raises(ConfigError, match="not a PrivacyAccountant"):
        register_accountant("x", int)  # type: ignore[arg-type]
    register_accountant("custom-rdp", Custom, force=True)
    assert isinstance(create_accountant("custom-rdp"), PrivacyAccountant)


def test_step_refuses_bad_parameters_and_records_nothing() -> None:
    # Arrange
    acc = create_accountant("rdp")
    # Act / Assert
    with pytest.raises(ConfigError, match="sample_rate"):
        acc.step(noise_multiplier=1.0, sample_rate=0.0)
    assert acc.total_steps == 0
    assert acc.get_epsilon(1e-5) == 0.0
