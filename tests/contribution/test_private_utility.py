"""Private-mode coalition utility on a tiny synthetic federation (one simulation start for the module)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

from fedrisk.contribution import create_ledger, exact_shapley, parse_contribution_section
from fedrisk.contribution.coalitions import (
    CoalitionTable,
    all_coalitions,
    combine,
    fast_shapley,
    needed_coalitions,
    private_utilities,
)
from fedrisk.errors import ConfigError, PrivacyError
from fedrisk.federation.plan import TrainSettings
from fedrisk.federation.valuation import Drills, MemberScore
from fedrisk.jobs.contribution import ContributionConfig, _coalitions, assemble_section
from synthetic import SIM_SPLIT, SIM_VENUES, write_data_dir

VENUES = SIM_VENUES
SPLIT = SIM_SPLIT
TINY = TrainSettings(rounds=2, local_steps=5, batch_size=64, window=12, hidden=8)
PLAYERS = tuple(VENUES)


@pytest.fixture(scope="module")
def table(tmp_path_factory: pytest.TempPathFactory) -> CoalitionTable:
    data = write_data_dir(tmp_path_factory.mktemp("data"), VENUES, n_hours=2700)
    return private_utilities(
        PLAYERS,
        all_coalitions(PLAYERS),
        data_dir=data,
        split=SPLIT,
        settings=TINY,
        drills=Drills(shuffle_labels=("delta",)),
    )


def test_every_federable_coalition_is_trained_and_scored_by_every_member(table: CoalitionTable) -> None:
    # Arrange
    expected = {frozenset(c) for c in all_coalitions(PLAYERS)}
    # Act
    trained = set(table.values)
    # Assert: 4 coalitions of 3 and the grand coalition; every member scored each model on its own data
    assert trained == expected and len(trained) == 5
    for coalition, per_member in table.per_member.items():
        assert set(per_member) == set(PLAYERS)
        defined = [v for v in per_member.values() if v is not None]
        assert defined and all(0.0 < v <= 1.0 for v in defined)
        assert table.values[coalition] == pytest.approx(float(np.mean(defined)))
    assert 0.0 < table.baseline < 1.0
    assert table.seconds > 0 and all(s > 0 for s in table.train_seconds.values())


def test_small_coalitions_get_the_baseline_and_shapley_axioms_hold(table: CoalitionTable) -> None:
    # Arrange
    # Act
    result = exact_shapley(PLAYERS, table)
    # Assert: coalitions that cannot federate are worth the untrained baseline
    assert table(frozenset()) == table(frozenset({"alpha"})) == table(frozenset({"alpha", "beta"})) == table.baseline
    total = table(frozenset(PLAYERS)) - table.baseline
    assert math.fsum(result.values.values()) == pytest.approx(total, abs=1e-12)  # efficiency
    assert result.n_evaluations == 16


def test_shuffled_labels_member_is_not_valued_above_the_honest_members(table: CoalitionTable) -> None:
    # Arrange: delta trains on shuffled labels
    # Act
    values = exact_shapley(PLAYERS, table).values
    # Assert: printed for the record; delta's value is the lowest (tiny synthetic game, 2 rounds of 5 steps)
    print({m: round(v, 4) for m, v in values.items()})
    assert values["delta"] == min(values.values())


def test_unknown_or_untrained_coalitions_are_refused(table: CoalitionTable) -> None:
    with pytest.raises(ConfigError, match="not players"):
        table(frozenset({"alpha", "omega"}))
    partial = CoalitionTable(PLAYERS, 0.1, {frozenset(PLAYERS): 0.5})
    with pytest.raises(ConfigError, match="was not trained"):
        partial(frozenset({"alpha", "beta", "gamma"}))


def test_fast_mode_is_refused_without_consent(tmp_path: Path) -> None:
    with pytest.raises(PrivacyError, match="individual update"):
        fast_shapley(
            PLAYERS,
            allow_individual_updates=False,
            data_dir=tmp_path,
            split=SPLIT,
            evaluate=lambda w: 0.0,
            rng=np.random.default_rng(0),
        )


def test_private_utilities_refuses_too_few_members_or_no_federable_coalition(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at least 3"):
        private_utilities(("a", "b"), [frozenset({"a", "b"})], data_dir=tmp_path, split=SPLIT)
    with pytest.raises(ConfigError, match="no coalition"):
        private_utilities(PLAYERS, [frozenset({"alpha", "beta"})], data_dir=tmp_path, split=SPLIT)


def test_needed_coalitions_are_what_the_estimator_asks_for() -> None:
    # Arrange
    players = tuple(f"m{i}" for i in range(7))
    # Act
    needed = needed_coalitions(players, permutations=4, seed=3, antithetic=True, max_evaluations=25)
    # Assert: only coalitions that can federate; all 7 members together are always among them
    assert frozenset(players) in needed
    assert all(len(c) >= 3 for c in needed)
    assert len(needed) <= 25


def test_combine_is_the_mean_of_defined_auprcs() -> None:
    scores = {"a": MemberScore("a", 0.2, 10), "b": MemberScore("b", None, 5), "c": MemberScore("c", 0.4, 3)}
    assert combine(scores) == pytest.approx(0.3)
    assert combine({"b": MemberScore("b", None, 5)}) == 0.0


def test_demo_section_shape_from_the_trained_table(table: CoalitionTable, tmp_path: Path) -> None:
    # Arrange
    cc = ContributionConfig()
    # Act
    section = assemble_section(PLAYERS, table, cc, tmp_path, seed=7, exact=True, ledger_round=2)
    # Assert: the section validates, values are exact, rewards split the pool, ledger and plot are written
    parsed = parse_contribution_section(json.loads(json.dumps(section)))
    assert parsed.method == "exact" and section["utility_mode"] == "private"
    assert section["utility"]["coalitions_trained"] == 5 and section["utility"]["coalitions_possible"] == 16
    assert math.fsum(m.shapley for m in parsed.members) == pytest.approx(section["total_value"], abs=1e-12)
    assert math.fsum(m.reward_share for m in parsed.members) == pytest.approx(1.0)
    assert all(0.05 - 1e-9 <= m.reward_share <= 0.4 + 1e-9 for m in parsed.members)
    assert all(m.loo is not None for m in parsed.members)  # 4 members: 3 remain without each
    assert section["fast_mode"]["allowed"] is False
    assert (tmp_path / section["plot"]).stat().st_size > 1000
    ledger = create_ledger(tmp_path / section["ledger"])
    assert ledger.rounds() == [2] and {e.member for e in ledger.entries(2)} == set(PLAYERS)


def test_sampled_section_on_seven_members_only_asks_for_the_trained_coalitions(tmp_path: Path) -> None:
    # Arrange: a 7-member table holding only what the TMC budget and leave-one-out need
    players = tuple(f"m{i}" for i in range(7))
    cc = ContributionConfig()
    coalitions, exact = _coalitions(players, cc, seed=7)
    values = {c: 0.1 + 0.01 * len(c) + 0.001 * sum(int(m[1]) for m in c) for c in coalitions}
    partial = CoalitionTable(players, 0.1, values, train_seconds=dict.fromkeys(values, 1.0))
    # Act
    section = assemble_section(players, partial, cc, tmp_path, seed=7, exact=exact, ledger_round=1)
    # Assert: sampled, within the budget (+ the 7 leave-one-out coalitions), with standard errors
    assert not exact and section["method"] == "monte_carlo" and section["exact_vs_sampled"] is None
    assert len(coalitions) <= cc.sampled_max_coalitions + 7
    assert all(r["std_error"] >= 0 for r in section["members"])
