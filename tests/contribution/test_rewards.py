"""Reward split: sums to the pool, floor and cap, monotone in value, premium members; bad rules rejected."""

from __future__ import annotations

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from fedrisk.contribution import RewardRules, split_rewards
from fedrisk.errors import ConfigError

VALUE = st.floats(min_value=-10, max_value=10, allow_nan=False, allow_infinity=False)


@st.composite
def cases(draw: st.DrawFn) -> tuple[dict[str, float], RewardRules]:
    n = draw(st.integers(min_value=1, max_value=8))
    values = {f"m{i}": draw(VALUE) for i in range(n)}
    floor = draw(st.floats(min_value=0, max_value=1 / n))
    cap = draw(st.floats(min_value=max(1 / n, floor), max_value=1))
    rules = RewardRules(
        pool=draw(st.floats(min_value=1, max_value=1e6)),
        split=draw(st.sampled_from(["shapley", "equal"])),
        floor=floor,
        cap=cap,
        premium_top_k=draw(st.integers(min_value=0, max_value=3)),
        premium_factor=draw(st.floats(min_value=1, max_value=3)),
    )
    return values, rules


@settings(max_examples=300, deadline=None)
@given(cases())
def test_amounts_sum_to_the_pool_and_respect_floor_and_cap(
    case: tuple[dict[str, float], RewardRules],
) -> None:
    # Arrange
    values, rules = case
    eps = 1e-9 * rules.pool
    # Act
    rewards = split_rewards(values, rules)
    # Assert
    assert sum(r.amount for r in rewards.values()) == pytest.approx(rules.pool, rel=1e-9)
    assert sum(r.share for r in rewards.values()) == pytest.approx(1.0, rel=1e-9)
    for r in rewards.values():
        assert rules.floor * rules.pool - eps <= r.amount <= rules.cap * rules.pool + eps


@settings(max_examples=300, deadline=None)
@given(cases())
def test_a_higher_value_never_gets_a_smaller_amount(case: tuple[dict[str, float], RewardRules]) -> None:
    # Arrange
    values, rules = case
    # Act
    rewards = split_rewards(values, rules)
    # Assert
    for i in values:
        for j in values:
            if values[i] >= values[j]:
                assert rewards[i].amount >= rewards[j].amount - 1e-9 * rules.pool


@settings(max_examples=300, deadline=None)
@given(cases(), st.data())
def test_raising_ones_value_never_lowers_its_amount(
    case: tuple[dict[str, float], RewardRules], data: st.DataObject
) -> None:
    # Arrange
    values, rules = case
    member = data.draw(st.sampled_from(sorted(values)))
    raised = dict(values) | {member: values[member] + data.draw(st.floats(min_value=0.01, max_value=5))}
    # Act
    before = split_rewards(values, rules)[member].amount
    after = split_rewards(raised, rules)[member].amount
    # Assert
    assert after >= before - 1e-9 * rules.pool


@settings(max_examples=200, deadline=None)
@given(cases())
def test_equal_values_get_equal_amounts(case: tuple[dict[str, float], RewardRules]) -> None:
    # Arrange
    values, rules = case
    assume(len(values) >= 2)
    values = dict(values) | {"m1": values["m0"]}
    # Act
    rewards = split_rewards(values, rules)
    # Assert
    assert rewards["m0"].amount == pytest.approx(rewards["m1"].amount, rel=1e-9, abs=1e-9)
    assert rewards["m0"].premium == rewards["m1"].premium


def test_proportional_split_with_floor_and_cap_worked_example() -> None:
    # Arrange: clipped values 6, 3, 1, 0 (d is negative); floor 10, cap 50 of a pool of 100.
    # clip(λ·w, 10, 50) must sum to 100: a = min(6λ, 50) hits the cap for λ > 8.33; then
    # 50 + 3λ + max(λ, 10) + 10 = 100 gives λ = 10: a 50 (cap), b 30, c 10 (floor), d 10 (floor).
    rules = RewardRules(pool=100.0, floor=0.1, cap=0.5)
    # Act
    rewards = split_rewards({"a": 6.0, "b": 3.0, "c": 1.0, "d": -2.0}, rules)
    # Assert
    assert {m: r.amount for m, r in rewards.items()} == pytest.approx({"a": 50, "b": 30, "c": 10, "d": 10})
    assert [r.bound for r in rewards.values()] == ["cap", "proportional", "floor", "floor"]
    assert rewards["d"].value == -2.0 and rewards["d"].weight == 0.0


def test_negative_values_count_as_zero_before_the_split() -> None:
    # Act
    rewards = split_rewards({"a": 3.0, "b": 1.0, "c": -5.0}, RewardRules(pool=40.0))
    # Assert
    assert {m: r.amount for m, r in rewards.items()} == pytest.approx({"a": 30.0, "b": 10.0, "c": 0.0})


def test_all_zero_values_split_the_pool_equally() -> None:
    rewards = split_rewards({"a": 0.0, "b": -1.0, "c": 0.0}, RewardRules(pool=30.0, cap=0.5))
    assert [r.amount for r in rewards.values()] == pytest.approx([10.0, 10.0, 10.0])


def test_when_capped_members_cannot_absorb_the_pool_zero_value_members_share_the_rest() -> None:
    # Arrange: only a has value, capped at 40 % of 100; b and c (value 0) share the remaining 60
    rules = RewardRules(pool=100.0, floor=0.1, cap=0.4)
    # Act
    rewards = split_rewards({"a": 5.0, "b": 0.0, "c": -1.0}, rules)
    # Assert
    assert [r.amount for r in rewards.values()] == pytest.approx([40.0, 30.0, 30.0])


def test_premium_goes_to_the_top_k_with_ties_and_boosts_their_weight() -> None:
    # Arrange: b and c tie for second place, so with k=2 both are premium
    rules = RewardRules(pool=100.0, premium_top_k=2, premium_factor=2.0)
    # Act
    rewards = split_rewards({"a": 4.0, "b": 2.0, "c": 2.0, "d": 2.0 - 1e-9, "e": 0.0}, rules)
    # Assert
    assert [m for m, r in rewards.items() if r.premium] == ["a", "b", "c"]
    total_weight = 8 + 4 + 4 + (2 - 1e-9)
    assert rewards["a"].amount == pytest.approx(100 * 8 / total_weight)
    assert rewards["e"].amount == 0.0 and not rewards["e"].premium


def test_equal_split_with_premium_factor() -> None:
    rules = RewardRules(pool=90.0, split="equal", premium_top_k=1, premium_factor=2.0)
    rewards = split_rewards({"a": 1.0, "b": 0.5, "c": 0.2}, rules)
    assert [r.amount for r in rewards.values()] == pytest.approx([45.0, 22.5, 22.5])


def test_rules_from_configuration_mapping() -> None:
    rules = RewardRules.from_mapping({"pool": 1000, "floor": 0.05, "cap": 0.4, "premium_top_k": 2})
    assert rules == RewardRules(pool=1000, floor=0.05, cap=0.4, premium_top_k=2)


def test_invalid_rules_report_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as err:
        RewardRules(pool=-1.0, split="shares", floor=0.5, cap=0.2, premium_top_k=-1, premium_factor=0.5)  # type: ignore[arg-type]
    message = str(err.value)
    for fragment in ("pool", "split", "cap 0.2 must be >= floor 0.5", "premium_top_k", "premium_factor"):
        assert fragment in message


@pytest.mark.parametrize(
    ("config", "message"),
    [({"pool": 1, "bonus": 2}, "unknown reward rule keys"), ({"floor": 0.1}, "need a 'pool'")],
)
def test_bad_configuration_mapping_is_rejected(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RewardRules.from_mapping(config)


@pytest.mark.parametrize(
    ("rules", "message"),
    [
        (RewardRules(pool=1.0, floor=0.3), "lower the floor to at most 0.25"),
        (RewardRules(pool=1.0, cap=0.2), "raise the cap to at least 0.25"),
    ],
)
def test_infeasible_floor_or_cap_is_rejected(rules: RewardRules, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        split_rewards(dict.fromkeys("abcd", 1.0), rules)


@pytest.mark.parametrize(("values", "message"), [({}, "no member values"), ({"a": float("nan")}, "finite")])
def test_bad_values_are_rejected(values: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        split_rewards(values, RewardRules(pool=1.0))
