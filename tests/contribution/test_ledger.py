"""One contract for every contribution-ledger backend (in-memory, SQLite)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fedrisk.contribution import (
    ContributionLedger,
    InMemoryContributionLedger,
    LedgerEntry,
    RewardRules,
    SqliteContributionLedger,
    create_ledger,
    entries_for_round,
    monte_carlo_shapley,
    split_rewards,
)
from fedrisk.errors import ConfigError, DataValidationError


def entry(round_: int, member: str, value: float = 0.5, reward: float = 10.0) -> LedgerEntry:
    return LedgerEntry(round_, member, value, 0.01, "exact", reward, reward / 100, member == "a")


class LedgerContract:
    """Behaviour every backend must show. Subclasses provide ``make``."""

    __test__ = False

    def make(self, tmp_path: Path) -> ContributionLedger:
        raise NotImplementedError

    def test_round_trip_keeps_every_field_and_the_order(self, tmp_path: Path) -> None:
        # Arrange
        ledger = self.make(tmp_path)
        entries = [entry(0, "c", 0.1 + 0.2, 33.3), entry(0, "a", -1e-17, 1 / 3), entry(0, "b")]
        # Act
        ledger.append_round(0, entries)
        # Assert
        assert ledger.rounds() == [0]
        assert ledger.entries(0) == entries

    def test_history_and_cumulative_rewards_across_rounds(self, tmp_path: Path) -> None:
        # Arrange
        ledger = self.make(tmp_path)
        # Act
        ledger.append_round(1, [entry(1, "a", reward=10.0), entry(1, "b", reward=5.0)])
        ledger.append_round(4, [entry(4, "a", reward=2.5), entry(4, "c", reward=7.0)])
        # Assert
        assert ledger.rounds() == [1, 4]
        assert [e.round for e in ledger.member_history("a")] == [1, 4]
        assert ledger.member_history("nobody") == []
        assert ledger.cumulative_rewards() == {"a": 12.5, "b": 5.0, "c": 7.0}

    @pytest.mark.parametrize("round_", [2, 3])
    def test_rounds_are_append_only_and_increasing(self, tmp_path: Path, round_: int) -> None:
        # Arrange
        ledger = self.make(tmp_path)
        ledger.append_round(3, [entry(3, "a")])
        # Act / Assert
        with pytest.raises(ConfigError, match="append-only"):
            ledger.append_round(round_, [entry(round_, "b")])
        assert ledger.entries(3) == [entry(3, "a")]

    @pytest.mark.parametrize(
        ("round_", "entries", "message"),
        [
            (0, [], "no entries"),
            (-1, [entry(-1, "a")], "integer >= 0"),
            (0, [entry(0, "a"), entry(0, "a")], "more than once"),
            (0, [entry(1, "a")], "was given with round 0"),
            (0, [entry(0, "a", value=float("nan"))], "non-finite"),
            (0, [entry(0, "")], "non-empty strings"),
        ],
    )
    def test_bad_rounds_are_rejected_and_nothing_is_stored(
        self, tmp_path: Path, round_: int, entries: list[LedgerEntry], message: str
    ) -> None:
        # Arrange
        ledger = self.make(tmp_path)
        # Act / Assert
        with pytest.raises(ConfigError, match=message):
            ledger.append_round(round_, entries)
        assert ledger.rounds() == []

    def test_unknown_round_is_an_error_naming_the_recorded_ones(self, tmp_path: Path) -> None:
        ledger = self.make(tmp_path)
        ledger.append_round(0, [entry(0, "a")])
        with pytest.raises(ConfigError, match=r"round 5 is not in the ledger; recorded rounds: \[0\]"):
            ledger.entries(5)

    def test_records_a_valuation_and_its_rewards(self, tmp_path: Path) -> None:
        # Arrange
        ledger = self.make(tmp_path)
        result = monte_carlo_shapley(
            ["a", "b", "c"], lambda s: float(len(s)), permutations=4, rng=np.random.default_rng(0)
        )
        rewards = split_rewards(result.values, RewardRules(pool=90.0, premium_top_k=1))
        # Act
        ledger.append_round(7, entries_for_round(7, result, rewards))
        # Assert
        stored = ledger.entries(7)
        assert [e.member for e in stored] == ["a", "b", "c"]
        assert [e.reward for e in stored] == pytest.approx([30.0, 30.0, 30.0])
        assert all(e.method == "monte_carlo" and e.value == pytest.approx(1.0) for e in stored)


class TestInMemoryLedger(LedgerContract):
    __test__ = True

    def make(self, tmp_path: Path) -> ContributionLedger:
        return InMemoryContributionLedger()


class TestSqliteLedger(LedgerContract):
    __test__ = True

    def make(self, tmp_path: Path) -> ContributionLedger:
        return SqliteContributionLedger(tmp_path / "ledger" / "contribution.sqlite")


def test_sqlite_ledger_survives_reopening(tmp_path: Path) -> None:
    # Arrange
    path = tmp_path / "c.sqlite"
    SqliteContributionLedger(path).append_round(0, [entry(0, "a"), entry(0, "b")])
    # Act
    reopened = create_ledger(path)
    # Assert
    assert reopened.entries(0) == [entry(0, "a"), entry(0, "b")]
    with pytest.raises(ConfigError, match="append-only"):
        reopened.append_round(0, [entry(0, "c")])


def test_factory_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(create_ledger(), InMemoryContributionLedger)
    assert isinstance(create_ledger(":memory:"), InMemoryContributionLedger)
    assert isinstance(create_ledger(tmp_path / "x.sqlite"), SqliteContributionLedger)


def test_a_file_that_is_not_a_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(DataValidationError, match="not a usable contribution ledger"):
        SqliteContributionLedger(path)


FLOATS = st.floats(allow_nan=False, allow_infinity=False)


@settings(max_examples=25, deadline=None)
@given(st.lists(st.tuples(st.text(min_size=1, max_size=12), FLOATS, FLOATS), min_size=1, max_size=5))
def test_sqlite_round_trips_arbitrary_names_and_floats_exactly(rows: list[tuple[str, float, float]]) -> None:
    # Arrange
    entries, seen = [], set()
    for member, value, reward in rows:
        if member not in seen:
            seen.add(member)
            entries.append(LedgerEntry(0, member, value, 0.0, "exact", reward, 0.0, False))
    with tempfile.TemporaryDirectory() as tmp:
        ledger = SqliteContributionLedger(Path(tmp) / "l.sqlite")
        # Act
        ledger.append_round(0, entries)
        # Assert
        assert ledger.entries(0) == entries
