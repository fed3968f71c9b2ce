"""Monte-Carlo (TMC) Shapley: unbiased per-permutation efficiency, convergence to exact, cost and budget."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedrisk.contribution import CachedUtility, exact_shapley, monte_carlo_shapley
from fedrisk.contribution.analysis import compare_to_exact, convergence_report, format_convergence
from fedrisk.errors import ConfigError

from .conftest import data_like_game, table_game

SEVEN = [f"m{i}" for i in range(7)]


@settings(max_examples=40, deadline=None)
@given(
    st.integers(min_value=1, max_value=5),
    st.data(),
    st.integers(min_value=0, max_value=2**32 - 1),
)
def test_every_permutation_is_efficient_without_truncation(n: int, data: st.DataObject, seed: int) -> None:
    # Arrange
    names = [f"p{i}" for i in range(n)]
    table = data.draw(st.lists(st.floats(-100, 100), min_size=1 << n, max_size=1 << n))
    # Act
    result = monte_carlo_shapley(names, table_game(names, table), permutations=3, rng=np.random.default_rng(seed))
    # Assert
    assert result.total == pytest.approx(table[-1] - table[0], abs=1e-9)


def test_null_player_gets_zero_and_zero_error() -> None:
    # Arrange
    def v(s: frozenset[str]) -> float:
        return float(len(s - {"z"})) ** 2

    # Act
    result = monte_carlo_shapley(["a", "b", "z"], v, permutations=20, rng=np.random.default_rng(1))
    # Assert
    assert result.values["z"] == 0.0
    assert result.std_errors["z"] == 0.0


def test_converges_to_exact_on_seven_members_and_reports_error_vs_cost(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Arrange
    game = CachedUtility(data_like_game(SEVEN))
    exact = exact_shapley(SEVEN, game)
    grid = [4, 8, 16, 64, 256]
    # Act
    plain = convergence_report(SEVEN, game, permutation_grid=grid, repeats=10, rng=np.random.default_rng(7))
    paired = convergence_report(
        SEVEN, game, permutation_grid=grid, antithetic=True, repeats=10, rng=np.random.default_rng(8)
    )
    with capsys.disabled():
        print("\nMC-Shapley vs exact, 7 members (data-like game, 2**7 = 128 coalitions), 10 repeats:")
        print(format_convergence(plain + paired))
    # Assert: error falls as permutations grow; the cost never exceeds the 128 coalitions of exact
    for rows in (plain, paired):
        errors = [r.mean_max_error_pct_of_total for r in rows]
        assert errors[-1] < errors[0] / 3
        assert errors[-1] < 3.0
        assert all(r.mean_evaluations <= exact.n_evaluations for r in rows)
        assert rows[0].mean_evaluations < rows[-1].mean_evaluations
    # antithetic pairs cost about the same per permutation and are markedly more accurate here
    assert paired[0].mean_max_error_pct_of_total < plain[0].mean_max_error_pct_of_total


def test_reported_standard_error_covers_the_true_error() -> None:
    # Arrange
    game = CachedUtility(data_like_game(SEVEN))
    exact = exact_shapley(SEVEN, game)
    # Act
    est = monte_carlo_shapley(SEVEN, game, permutations=200, rng=np.random.default_rng(3))
    # Assert: every member within 4 standard errors (a 1-in-15000 event per member if normal)
    for m in SEVEN:
        assert abs(est.values[m] - exact.values[m]) <= 4 * est.std_errors[m] + 1e-12
    assert est.n_permutations == 200
    assert est.method == "monte_carlo"


def test_truncation_saves_evaluations_and_its_bias_is_bounded() -> None:
    # Arrange
    game = CachedUtility(data_like_game(SEVEN))
    exact = exact_shapley(SEVEN, game)
    tol = 0.02
    # Act
    plain = monte_carlo_shapley(SEVEN, game, permutations=10, rng=np.random.default_rng(5))
    truncated = monte_carlo_shapley(SEVEN, game, permutations=10, truncation_tol=tol, rng=np.random.default_rng(5))
    # Assert: same permutations, fewer coalitions; each permutation loses at most `tol` in total
    assert truncated.n_evaluations < plain.n_evaluations
    assert abs(truncated.total - exact.total) <= tol
    assert compare_to_exact(exact, truncated).max_abs_error < 0.5 * exact.total


def test_antithetic_pairs_are_efficient_and_counted_as_two_permutations() -> None:
    # Arrange
    game = data_like_game(SEVEN)
    # Act
    est = monte_carlo_shapley(SEVEN, game, permutations=6, antithetic=True, rng=np.random.default_rng(2))
    # Assert
    assert est.n_permutations == 6
    assert est.total == pytest.approx(game(frozenset(SEVEN)) - game(frozenset()))


def test_evaluation_budget_stops_new_permutations() -> None:
    # Arrange
    game = CachedUtility(data_like_game(SEVEN))
    # Act
    est = monte_carlo_shapley(SEVEN, game, permutations=1000, rng=np.random.default_rng(0), max_evaluations=25)
    # Assert: the budget is checked between permutations, so it is overshot by at most n - 1
    assert 25 <= est.n_evaluations <= 25 + len(SEVEN) - 1
    assert est.n_permutations < 1000


def test_same_seed_same_estimate() -> None:
    # Arrange
    game = data_like_game(SEVEN)
    # Act
    a = monte_carlo_shapley(SEVEN, game, permutations=10, rng=np.random.default_rng(42))
    b = monte_carlo_shapley(SEVEN, game, permutations=10, rng=np.random.default_rng(42))
    # Assert
    assert a == b


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"permutations": 1}, "permutations must be an integer >= 2"),
        ({"permutations": 10, "truncation_tol": -0.1}, "truncation_tol"),
        ({"permutations": 10, "max_evaluations": 1}, "max_evaluations"),
        ({"permutations": 5, "antithetic": True}, "even number"),
    ],
)
def test_bad_sampling_arguments_are_rejected(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        monte_carlo_shapley(["a", "b"], lambda s: 0.0, rng=np.random.default_rng(0), **kwargs)  # type: ignore[arg-type]
