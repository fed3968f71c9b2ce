"""The contribution ledger: values and rewards per member per round, append-only.

One abstract contract (:class:`ContributionLedger`) and two backends: :class:`InMemoryContributionLedger`
(tests, one-off runs) and :class:`SqliteContributionLedger` (a file that survives the process), created by
:func:`create_ledger`. Rounds are appended whole, in increasing order, and never rewritten.
"""

from __future__ import annotations

import abc
import math
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import closing, contextmanager
from dataclasses import astuple, dataclass
from pathlib import Path

from fedrisk.contribution.analysis import ShapleyResult
from fedrisk.contribution.rewards import Reward
from fedrisk.errors import ConfigError, DataValidationError


@dataclass(frozen=True)
class LedgerEntry:
    """One member's contribution value and reward in one round.

    Attributes
    ----------
    round
        Round (or valuation period) number, >= 0.
    member
        Member id.
    value
        Contribution value (e.g. Shapley) in utility units.
    std_error
        Standard error of ``value`` (0 when exact).
    method
        Estimator that produced ``value`` (``"exact"``, ``"monte_carlo"``, ``"gtg"``).
    reward
        Amount of the round's pool awarded.
    reward_share
        ``reward`` as a fraction of the pool.
    premium
        Whether the member had premium status this round.
    """

    round: int
    member: str
    value: float
    std_error: float
    method: str
    reward: float
    reward_share: float
    premium: bool


def entries_for_round(round_: int, result: ShapleyResult, rewards: Mapping[str, Reward]) -> list[LedgerEntry]:
    """Combine one round's contribution result and rewards into ledger entries (members in result order)."""
    if set(rewards) != set(result.values):
        raise ConfigError(
            f"rewards cover {sorted(rewards)} but the contribution result {sorted(result.values)}: "
            "split the pool over the same members that were valued"
        )
    return [
        LedgerEntry(
            round=round_,
            member=m,
            value=v,
            std_error=result.std_errors[m],
            method=result.method,
            reward=rewards[m].amount,
            reward_share=rewards[m].share,
            premium=rewards[m].premium,
        )
        for m, v in result.values.items()
    ]


def _check_entry(entry: LedgerEntry, round_: int) -> None:
    if entry.round != round_:
        raise ConfigError(f"an entry for round {entry.round} was given with round {round_}")
    if not isinstance(entry.member, str) or not entry.member:
        raise ConfigError(f"ledger member ids must be non-empty strings, got {entry.member!r}")
    numbers = {"value": entry.value, "std_error": entry.std_error, "reward": entry.reward}
    bad = {k: v for k, v in numbers.items() if not math.isfinite(v)}
    if bad:
        raise ConfigError(f"ledger entry of {entry.member!r} in round {round_} has non-finite {bad}")


class ContributionLedger(abc.ABC):
    """Append-only record of contribution values and rewards per member per round.

    Constraints
    -----------
    - ``append_round`` stores a whole round atomically, or raises and stores nothing.
    - Rounds are strictly increasing and never rewritten; a member appears at most once per round.
    - ``entries(r)`` returns the entries of round ``r`` in the order they were appended.
    """

    def append_round(self, round_: int, entries: Sequence[LedgerEntry]) -> None:
        """Record every member's entry for ``round_``.

        Raises
        ------
        ConfigError
            A round that is not after the last one, no entries, a repeated member, or a non-finite number.
        """
        if isinstance(round_, bool) or not isinstance(round_, int) or round_ < 0:
            raise ConfigError(f"round must be an integer >= 0, got {round_!r}")
        if not entries:
            raise ConfigError(f"round {round_} has no entries: record at least one member")
        for entry in entries:
            _check_entry(entry, round_)
        members = [e.member for e in entries]
        if len(set(members)) != len(members):
            raise ConfigError(f"round {round_} lists a member more than once: {members}")
        recorded = self.rounds()
        if recorded and round_ <= recorded[-1]:
            raise ConfigError(
                f"round {round_} cannot be appended after round {recorded[-1]}: the ledger is append-only "
                "and rounds are strictly increasing"
            )
        self._write(round_, list(entries))

    @abc.abstractmethod
    def _write(self, round_: int, entries: list[LedgerEntry]) -> None:
        """Store a validated round atomically."""

    @abc.abstractmethod
    def rounds(self) -> list[int]:
        """Recorded round numbers, increasing."""

    @abc.abstractmethod
    def _read(self, round_: int) -> list[LedgerEntry]:
        """Entries of a recorded round (empty list when the round is unknown)."""

    def entries(self, round_: int) -> list[LedgerEntry]:
        """Entries of round ``round_``; :class:`ConfigError` when it was never recorded."""
        found = self._read(round_)
        if not found:
            raise ConfigError(f"round {round_} is not in the ledger; recorded rounds: {self.rounds()}")
        return found

    def member_history(self, member: str) -> list[LedgerEntry]:
        """Every entry of ``member``, by round."""
        return [e for r in self.rounds() for e in self._read(r) if e.member == member]

    def cumulative_rewards(self) -> dict[str, float]:
        """Total reward per member over all rounds."""
        totals: dict[str, list[float]] = {}
        for r in self.rounds():
            for e in self._read(r):
                totals.setdefault(e.member, []).append(e.reward)
        return {m: math.fsum(v) for m, v in totals.items()}


class InMemoryContributionLedger(ContributionLedger):
    """Ledger kept in a dict; lost when the process ends."""

    def __init__(self) -> None:
        self._rounds: dict[int, list[LedgerEntry]] = {}

    def _write(self, round_: int, entries: list[LedgerEntry]) -> None:
        self._rounds[round_] = list(entries)

    def rounds(self) -> list[int]:
        """Recorded round numbers, increasing."""
        return sorted(self._rounds)

    def _read(self, round_: int) -> list[LedgerEntry]:
        return list(self._rounds.get(round_, []))


_SCHEMA = """
CREATE TABLE IF NOT EXISTS contribution_ledger (
    round INTEGER NOT NULL CHECK (round >= 0),
    position INTEGER NOT NULL,
    member TEXT NOT NULL,
    value REAL NOT NULL,
    std_error REAL NOT NULL,
    method TEXT NOT NULL,
    reward REAL NOT NULL,
    reward_share REAL NOT NULL,
    premium INTEGER NOT NULL CHECK (premium IN (0, 1)),
    PRIMARY KEY (round, member)
)
"""
_COLUMNS = "round, member, value, std_error, method, reward, reward_share, premium"


class SqliteContributionLedger(ContributionLedger):
    """Ledger in an SQLite file (created with its parent directories when missing).

    Parameters
    ----------
    path
        The database file.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        self._path.parent.mkdir(parents=True, exist_ok=True)
        try:
            with self._connect() as conn:
                conn.execute(_SCHEMA)
        except sqlite3.DatabaseError as err:
            raise DataValidationError(
                f"{self._path} is not a usable contribution ledger ({err}): point to a new file"
            ) from err

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        with closing(sqlite3.connect(self._path)) as conn, conn:
            yield conn

    def _write(self, round_: int, entries: list[LedgerEntry]) -> None:
        rows = [(pos, *astuple(e)) for pos, e in enumerate(entries)]
        with self._connect() as conn:
            conn.executemany(
                f"INSERT INTO contribution_ledger (position, {_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def rounds(self) -> list[int]:
        """Recorded round numbers, increasing."""
        with self._connect() as conn:
            cur = conn.execute("SELECT DISTINCT round FROM contribution_ledger ORDER BY round")
            return [int(row[0]) for row in cur.fetchall()]

    def _read(self, round_: int) -> list[LedgerEntry]:
        with self._connect() as conn:
            cur = conn.execute(
                f"SELECT {_COLUMNS} FROM contribution_ledger WHERE round = ? ORDER BY position", (round_,)
            )
            rows = cur.fetchall()
        return [
            LedgerEntry(
                round=int(r[0]),
                member=str(r[1]),
                value=float(r[2]),
                std_error=float(r[3]),
                method=str(r[4]),
                reward=float(r[5]),
                reward_share=float(r[6]),
                premium=bool(r[7]),
            )
            for r in rows
        ]


def create_ledger(location: str | Path | None = None) -> ContributionLedger:
    """Create a ledger: in memory for ``None`` or ``":memory:"``, else an SQLite file at ``location``."""
    if location is None or str(location) == ":memory:":
        return InMemoryContributionLedger()
    return SqliteContributionLedger(location)
