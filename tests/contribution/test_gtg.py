"""GTG-Shapley on a toy linear model, where the per-round game has a closed form.

With equal aggregation weights and a linear score ``evaluate(w) = a·w``, the coalition model of round t
scores ``U(S) = a·w_t + mean_{i in S} x_i`` with ``x_i = a·delta_i``. Its Shapley value, worked by hand:
for S ≠ ∅ not holding i, ``mean(S ∪ i) - mean(S) = (x_i - mean(S)) / (|S| + 1)``, and the average of
``mean(S)`` over the size-k coalitions without i is ``xbar_{-i}`` (the mean of the others), so

    phi_i = (1/n) * [ x_i + sum_{k=1}^{n-1} (x_i - xbar_{-i}) / (k + 1) ]
          = (1/n) * [ x_i + (H_n - 1) * (x_i - xbar_{-i}) ],        H_n = 1 + 1/2 + ... + 1/n.

(Efficiency: the second terms sum to 0, so the values sum to mean(x) = U(N) - U(∅).) Note what it says of
a free-rider sending a zero update (x_i = 0): phi_i = -(H_n - 1) xbar_{-i} / n < 0 — under weighted
averaging it dilutes the others' updates, so GTG charges it, rather than valuing it at zero.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from fedrisk.contribution import exact_shapley, gtg_shapley
from fedrisk.contribution.analysis.gtg import reconstruct
from fedrisk.errors import ConfigError

A = np.array([1.0, -2.0, 0.5])


def score(model: list[np.ndarray]) -> float:
    return float(A @ model[0])


def closed_form(x: dict[str, float]) -> dict[str, float]:
    n = len(x)
    harmonic = sum(1 / k for k in range(1, n + 1))
    total = sum(x.values())
    return {m: (xi + (harmonic - 1) * (xi - (total - xi) / (n - 1))) / n for m, xi in x.items()}


def update_scoring(x: float) -> list[np.ndarray]:
    """An update whose score gain is x (along a, scaled)."""
    return [A * x / float(A @ A)]


def test_linear_model_matches_the_closed_form_summed_over_rounds() -> None:
    # Arrange: 4 members, 2 rounds, one free-rider ("d") sending zero updates
    x_rounds = [
        {"a": 0.30, "b": 0.10, "c": 0.20, "d": 0.0},
        {"a": 0.05, "b": 0.15, "c": 0.10, "d": 0.0},
    ]
    updates = [{m: update_scoring(x) for m, x in xs.items()} for xs in x_rounds]
    before = [[np.array([0.2, 0.1, 0.0])], [np.array([0.3, 0.0, 0.1])]]
    expected = {m: sum(closed_form(xs)[m] for xs in x_rounds) for m in "abcd"}
    # Act
    result = gtg_shapley(
        list("abcd"),
        updates,
        before,
        dict.fromkeys("abcd", 100.0),
        score,
        permutations=400,
        rng=np.random.default_rng(11),
    )
    # Assert
    for m in "abcd":
        assert result.values[m] == pytest.approx(expected[m], abs=4 * result.std_errors[m] + 1e-12)
    assert result.values["d"] < 0  # the free-rider dilutes the average
    assert result.total == pytest.approx(sum(sum(xs.values()) / 4 for xs in x_rounds))
    assert result.method == "gtg"
    assert result.n_evaluations <= 2 * 16


def test_closed_form_agrees_with_exact_shapley_of_the_reconstructed_game() -> None:
    # Arrange
    x = {"a": 0.3, "b": 0.1, "c": 0.2, "d": 0.0}
    before = [np.zeros(3)]
    updates = {m: update_scoring(v) for m, v in x.items()}
    weights = dict.fromkeys(x, 1.0)
    # Act
    exact = exact_shapley(list(x), lambda s: score(reconstruct(before, updates, weights, s)))
    # Assert
    assert exact.values == pytest.approx(closed_form(x))


def test_identical_updates_split_the_gain_equally_and_exactly() -> None:
    # Arrange: every non-empty coalition scores the same, so only the first member of an order adds value;
    # guided sampling puts each member first equally often when permutations is a multiple of n.
    updates = [{m: update_scoring(0.4) for m in "abc"}]
    # Act
    result = gtg_shapley(
        list("abc"),
        updates,
        [[np.zeros(3)]],
        {"a": 1.0, "b": 2.0, "c": 3.0},
        score,
        permutations=6,
        rng=np.random.default_rng(0),
    )
    # Assert
    assert result.values == pytest.approx(dict.fromkeys("abc", 0.4 / 3))


def test_rounds_that_change_nothing_are_skipped_and_absent_members_get_zero() -> None:
    # Arrange: round 0 moves the score by less than round_tol; in round 1 only a and b take part
    updates = [
        {m: update_scoring(1e-6) for m in "abc"},
        {"a": update_scoring(0.2), "b": update_scoring(0.2)},
    ]
    # Act
    result = gtg_shapley(
        list("abc"),
        updates,
        [[np.zeros(3)], [np.zeros(3)]],
        dict.fromkeys("abc", 1.0),
        score,
        permutations=4,
        round_tol=1e-3,
        rng=np.random.default_rng(0),
    )
    # Assert
    assert result.values["c"] == 0.0
    assert result.values["a"] == pytest.approx(0.1)
    assert result.n_evaluations == 2 + 4  # round 0: U(N), U(∅); round 1: all 4 coalitions of {a, b}


def test_within_round_truncation_evaluates_fewer_models() -> None:
    # Arrange
    calls: list[int] = []

    def counting_score(model: list[np.ndarray]) -> float:
        calls.append(1)
        return score(model)

    updates = [{m: update_scoring(0.3) for m in "abcde"}]
    args = (list("abcde"), updates, [[np.zeros(3)]], dict.fromkeys("abcde", 1.0), counting_score)
    # Act
    full = gtg_shapley(*args, permutations=10, rng=np.random.default_rng(0))
    n_full = len(calls)
    truncated = gtg_shapley(*args, permutations=10, truncation_tol=0.01, rng=np.random.default_rng(0))
    # Assert: after the first member the coalition already scores like the grand one
    assert len(calls) - n_full == truncated.n_evaluations == 2 + 5
    assert truncated.n_evaluations < full.n_evaluations
    assert math.isclose(truncated.total, 0.3)


@pytest.mark.parametrize(
    ("updates", "weights", "message"),
    [
        ([{"zz": [np.zeros(3)]}], {"a": 1.0, "b": 1.0}, "not in players"),
        ([{"a": [np.zeros(4)]}], {"a": 1.0, "b": 1.0}, "layer shapes"),
        ([{"a": [np.zeros(3)]}], {"a": 1.0}, "no entry for members"),
        ([{"a": [np.zeros(3)]}], {"a": 1.0, "b": 0.0}, "finite and > 0"),
        ([{"a": [np.zeros(3)]}, {"a": [np.zeros(3)]}], {"a": 1.0, "b": 1.0}, "global_before"),
    ],
)
def test_bad_round_inputs_are_rejected(
    updates: list[dict[str, list[np.ndarray]]], weights: dict[str, float], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        gtg_shapley(["a", "b"], updates, [[np.zeros(3)]], weights, score, permutations=2, rng=np.random.default_rng(0))
