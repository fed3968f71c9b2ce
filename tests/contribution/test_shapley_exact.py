"""Exact Shapley: the axioms on random games (hypothesis) and hand-computed values."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedrisk.contribution import CachedUtility, exact_shapley, leave_one_out
from fedrisk.errors import ConfigError, QuorumError

from .conftest import table_game

VALUES = st.floats(min_value=-100, max_value=100, allow_nan=False, allow_infinity=False)


@st.composite
def games(draw: st.DrawFn, min_players: int = 1, max_players: int = 5) -> tuple[list[str], list[float]]:
    n = draw(st.integers(min_value=min_players, max_value=max_players))
    names = [f"p{i}" for i in range(n)]
    table = draw(st.lists(VALUES, min_size=1 << n, max_size=1 << n))
    return names, table


@settings(max_examples=60, deadline=None)
@given(games())
def test_efficiency_values_sum_to_grand_coalition_gain(game: tuple[list[str], list[float]]) -> None:
    # Arrange
    names, table = game
    # Act
    result = exact_shapley(names, table_game(names, table))
    # Assert
    assert result.total == pytest.approx(table[-1] - table[0], abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(games(min_players=2))
def test_symmetry_interchangeable_players_get_equal_values(game: tuple[list[str], list[float]]) -> None:
    # Arrange: make p0 and p1 interchangeable by averaging the game with its p0<->p1 swap
    names, table = game

    def swap(mask: int) -> int:
        b0, b1 = mask & 1, (mask >> 1) & 1
        return (mask & ~3) | (b0 << 1) | b1

    symmetric = [(table[m] + table[swap(m)]) / 2 for m in range(len(table))]
    # Act
    result = exact_shapley(names, table_game(names, symmetric))
    # Assert
    assert result.values["p0"] == pytest.approx(result.values["p1"], abs=1e-9)


@settings(max_examples=60, deadline=None)
@given(games(min_players=2), st.data())
def test_null_player_gets_exactly_zero(game: tuple[list[str], list[float]], data: st.DataObject) -> None:
    # Arrange: player k never changes the value of any coalition
    names, table = game
    k = data.draw(st.integers(min_value=0, max_value=len(names) - 1))
    null_table = [table[m & ~(1 << k)] for m in range(len(table))]
    # Act
    result = exact_shapley(names, table_game(names, null_table))
    # Assert
    assert result.values[f"p{k}"] == 0.0


@settings(max_examples=60, deadline=None)
@given(games(), st.data())
def test_additivity_value_of_sum_game_is_sum_of_values(
    game: tuple[list[str], list[float]], data: st.DataObject
) -> None:
    # Arrange
    names, v = game
    w = data.draw(st.lists(VALUES, min_size=len(v), max_size=len(v)))
    # Act
    phi_v = exact_shapley(names, table_game(names, v)).values
    phi_w = exact_shapley(names, table_game(names, w)).values
    phi_sum = exact_shapley(names, table_game(names, [a + b for a, b in zip(v, w, strict=True)])).values
    # Assert
    for name in names:
        assert phi_sum[name] == pytest.approx(phi_v[name] + phi_w[name], abs=1e-9)


def test_glove_game_known_values() -> None:
    # Arrange: a and b each hold a left glove, c the only right glove; a pair is worth 1.
    # c joins after a left glove in 4 of the 6 orders: phi_c = 4/6; a and b split the rest.
    def gloves(s: frozenset[str]) -> float:
        return float("c" in s and bool(s & {"a", "b"}))

    # Act
    result = exact_shapley(["a", "b", "c"], gloves)
    # Assert
    assert result.values == pytest.approx({"a": 1 / 6, "b": 1 / 6, "c": 2 / 3})
    assert result.std_errors == {"a": 0.0, "b": 0.0, "c": 0.0}
    assert result.n_evaluations == 8
    assert result.method == "exact"


def test_three_player_game_worked_by_hand() -> None:
    # Arrange: v(∅)=0, v(A)=12, v(B)=6, v(C)=0, v(AB)=24, v(AC)=18, v(BC)=12, v(ABC)=36.
    # Weights for n=3: |S|=0 -> 1/3, |S|=1 -> 1/6, |S|=2 -> 1/3.
    # phi_A = 1/3*(12-0) + 1/6*(24-6) + 1/6*(18-0) + 1/3*(36-12) = 4 + 3 + 3 + 8 = 18
    # phi_B = 1/3*(6-0)  + 1/6*(24-12) + 1/6*(12-0) + 1/3*(36-18) = 2 + 2 + 2 + 6 = 12
    # phi_C = 1/3*(0-0)  + 1/6*(18-12) + 1/6*(12-6) + 1/3*(36-24) = 0 + 1 + 1 + 4 = 6
    # Efficiency: 18 + 12 + 6 = 36 = v(ABC) - v(∅).
    table = [0, 12, 6, 24, 0, 18, 12, 36]  # bit 0 = A, bit 1 = B, bit 2 = C
    # Act
    result = exact_shapley(["A", "B", "C"], table_game(["A", "B", "C"], table))
    # Assert
    assert result.values == pytest.approx({"A": 18.0, "B": 12.0, "C": 6.0})


def test_unanimity_game_splits_equally_among_carriers() -> None:
    # Arrange: u_T(S) = 1 iff T ⊆ S, T = {a, c}: phi = 1/|T| on T, 0 elsewhere
    def unanimity(s: frozenset[str]) -> float:
        return float({"a", "c"} <= s)

    # Act
    result = exact_shapley(["a", "b", "c", "d"], unanimity)
    # Assert
    assert result.values == pytest.approx({"a": 0.5, "b": 0.0, "c": 0.5, "d": 0.0})


def test_no_coalition_is_evaluated_twice_across_estimators() -> None:
    # Arrange
    calls: list[frozenset[str]] = []

    def v(s: frozenset[str]) -> float:
        calls.append(s)
        return float(len(s) ** 1.5)

    cached = CachedUtility(v)
    names = ["a", "b", "c", "d"]
    # Act
    exact = exact_shapley(names, cached)
    again = exact_shapley(names, cached)
    loo = leave_one_out(names, cached)
    # Assert
    assert len(calls) == len(set(calls)) == 16
    assert cached.n_evaluations == 16
    assert exact.n_evaluations == again.n_evaluations == 16  # each estimator's own cost
    assert loo == pytest.approx(dict.fromkeys(names, 4**1.5 - 3**1.5))


def test_leave_one_out_known_values() -> None:
    # Arrange: additive game plus a bonus when a and b are together
    weights = {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0}

    def v(s: frozenset[str]) -> float:
        return sum(weights[m] for m in s) + (5.0 if {"a", "b"} <= s else 0.0)

    # Act
    loo = leave_one_out(list(weights), v)
    # Assert
    assert loo == pytest.approx({"a": 6.0, "b": 7.0, "c": 3.0, "d": 4.0})


def test_leave_one_out_refused_when_fewer_than_three_remain() -> None:
    with pytest.raises(QuorumError, match="leave-one-out"):
        leave_one_out(["a", "b", "c"], lambda s: float(len(s)))


@pytest.mark.parametrize(
    ("players", "message"),
    [
        ([], "empty"),
        (["a", "a"], "distinct"),
        (["a", ""], "non-empty strings"),
        ("abc", "single string"),
    ],
)
def test_bad_players_are_rejected(players: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        exact_shapley(players, lambda s: 0.0)


def test_non_finite_utility_is_rejected_with_the_coalition() -> None:
    with pytest.raises(ConfigError, match=r"nan for coalition \['a'\]"):
        exact_shapley(["a"], lambda s: math.nan if s else 0.0)


def test_too_many_players_for_exact_points_to_sampling() -> None:
    with pytest.raises(ConfigError, match="monte_carlo_shapley"):
        exact_shapley([f"p{i}" for i in range(17)], lambda s: 0.0)
