"""The coordinator's state: records and the :class:`CoordinatorStore` interface.

Two implementations share one contract test: :class:`~fedrisk.governance.in_memory_store.InMemoryStore`
and :class:`~fedrisk.governance.sql_store.SqlStore` (SQLite file by default, PostgreSQL by URL).

Rounds follow a state machine; every other transition is refused::

    scheduled ──► running ──► aggregating ──► committed
        │            │             │
        └────────────┴─────────────┴──────► failed

``committed`` and ``failed`` are terminal. A commit writes the round's privacy, contribution and
reward ledger entries in the same transaction as the state change, and is idempotent: committing a
committed round again with the same result digest returns it unchanged and writes nothing; any other
second commit raises.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal

from fedrisk.errors import GovernanceError

RoundState = Literal["scheduled", "running", "aggregating", "committed", "failed"]
RoundTrigger = Literal["schedule", "manual", "catch-up"]
MemberStatus = Literal["active", "suspended", "exiting", "exited"]

ROUND_STATES: tuple[RoundState, ...] = ("scheduled", "running", "aggregating", "committed", "failed")
TERMINAL_STATES: frozenset[RoundState] = frozenset({"committed", "failed"})
LEGAL_TRANSITIONS: dict[RoundState, frozenset[RoundState]] = {
    "scheduled": frozenset({"running", "failed"}),
    "running": frozenset({"aggregating", "failed"}),
    "aggregating": frozenset({"committed", "failed"}),
    "committed": frozenset(),
    "failed": frozenset(),
}
MEMBER_STATUSES: tuple[MemberStatus, ...] = ("active", "suspended", "exiting", "exited")


def utc(moment: datetime) -> datetime:
    """Return ``moment`` as an aware UTC datetime (naive values are taken to be UTC already)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def check_transition(round_id: int, current: RoundState, target: RoundState) -> None:
    """Raise :class:`GovernanceError` unless ``current → target`` is a legal round transition."""
    if target not in LEGAL_TRANSITIONS[current]:
        allowed = ", ".join(sorted(LEGAL_TRANSITIONS[current])) or "none (terminal state)"
        raise GovernanceError(
            f"round {round_id}: illegal transition {current} → {target}; allowed from {current}: {allowed}"
        )


@dataclass(frozen=True, slots=True)
class MemberRecord:
    """A member as recorded in the coordinator's state.

    ``exit_after_round`` is set when a member gives notice: it takes part in rounds with an id up
    to and including this one and is ``exited`` afterwards.
    """

    id: str
    display_name: str
    organisation: str
    public_key: str
    tier: str
    status: MemberStatus
    joined: date
    exit_after_round: int | None = None


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """One round. ``slot`` is unique: a scheduled fire time can be opened at most once."""

    round_id: int
    slot: str
    trigger: RoundTrigger
    scheduled_for: datetime
    state: RoundState
    participants: tuple[str, ...]
    opened_at: datetime
    updated_at: datetime
    result_digest: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PrivacyEntry:
    """ε and δ a member spent in a round, charged to a budget ``period`` (e.g. ``"2024"``)."""

    round_id: int
    member_id: str
    epsilon: float
    delta: float
    period: str


@dataclass(frozen=True, slots=True)
class ContributionEntry:
    """A member's contribution score in a round."""

    round_id: int
    member_id: str
    score: float


@dataclass(frozen=True, slots=True)
class RewardEntry:
    """A member's reward for a round."""

    round_id: int
    member_id: str
    amount: float
    currency: str


@dataclass(frozen=True, slots=True)
class RoundCommit:
    """What a commit writes, all in one transaction with the state change."""

    result_digest: str
    privacy: tuple[PrivacyEntry, ...] = ()
    contributions: tuple[ContributionEntry, ...] = ()
    rewards: tuple[RewardEntry, ...] = ()

    def check_round(self, round_id: int) -> None:
        """Raise :class:`GovernanceError` when an entry belongs to another round."""
        entries: tuple[PrivacyEntry | ContributionEntry | RewardEntry, ...] = (
            *self.privacy,
            *self.contributions,
            *self.rewards,
        )
        for entry in entries:
            if entry.round_id != round_id:
                raise GovernanceError(
                    f"commit of round {round_id} carries an entry for round {entry.round_id}: "
                    "build ledger entries with the committed round's id"
                )
        for name, ledger in (
            ("privacy", self.privacy),
            ("contribution", self.contributions),
            ("reward", self.rewards),
        ):
            ids = [e.member_id for e in ledger]
            if len(ids) != len(set(ids)):
                raise GovernanceError(
                    f"commit of round {round_id} has two {name} entries for one member: one entry each"
                )


class CoordinatorStore(ABC):
    """Interface of the coordinator's state store.

    Constraints
    -----------
    * Every method is atomic: it applies fully or not at all.
    * ``round_id`` values are assigned by the store, increasing from 1.
    * Datetimes are returned as aware UTC datetimes.
    """

    # --- members ---------------------------------------------------------------------------
    @abstractmethod
    def add_member(self, member: MemberRecord) -> None:
        """Insert a new member; raise :class:`GovernanceError` if the id exists."""

    @abstractmethod
    def update_member(self, member: MemberRecord) -> None:
        """Replace an existing member's record; raise :class:`GovernanceError` if absent."""

    @abstractmethod
    def get_member(self, member_id: str) -> MemberRecord | None:
        """Return the member or ``None``."""

    @abstractmethod
    def list_members(self) -> list[MemberRecord]:
        """Return all members ordered by id."""

    # --- rounds ----------------------------------------------------------------------------
    @abstractmethod
    def open_round(
        self,
        *,
        slot: str,
        trigger: RoundTrigger,
        scheduled_for: datetime,
        participants: tuple[str, ...],
        now: datetime,
    ) -> RoundRecord:
        """Create a round in state ``scheduled``; raise :class:`GovernanceError` if ``slot`` exists."""

    @abstractmethod
    def get_round(self, round_id: int) -> RoundRecord | None:
        """Return the round or ``None``."""

    @abstractmethod
    def find_round(self, slot: str) -> RoundRecord | None:
        """Return the round opened for ``slot`` or ``None``."""

    @abstractmethod
    def list_rounds(self) -> list[RoundRecord]:
        """Return all rounds ordered by id."""

    @abstractmethod
    def transition_round(
        self, round_id: int, target: RoundState, *, now: datetime, error: str | None = None
    ) -> RoundRecord:
        """Move a round to ``target`` (not ``committed``: use :meth:`commit_round`).

        Raises :class:`GovernanceError` for an unknown round or an illegal transition.
        """

    @abstractmethod
    def commit_round(self, round_id: int, commit: RoundCommit, *, now: datetime) -> RoundRecord:
        """Commit an ``aggregating`` round and write its ledger entries atomically.

        Idempotent: a committed round with the same digest is returned unchanged. Raises
        :class:`GovernanceError` for any other state or a different digest.
        """

    @abstractmethod
    def fail_unfinished(self, *, now: datetime, reason: str) -> list[RoundRecord]:
        """Mark every non-terminal round failed with ``reason``; return the rounds changed."""

    # --- ledgers ---------------------------------------------------------------------------
    @abstractmethod
    def privacy_entries(self, member_id: str | None = None) -> list[PrivacyEntry]:
        """Return privacy ledger entries, optionally of one member, by round."""

    @abstractmethod
    def contribution_entries(self, member_id: str | None = None) -> list[ContributionEntry]:
        """Return contribution ledger entries, optionally of one member, by round."""

    @abstractmethod
    def reward_entries(self, member_id: str | None = None) -> list[RewardEntry]:
        """Return reward entries, optionally of one member, by round."""

    def privacy_spent(self, member_id: str, period: str) -> float:
        """Return the ε ``member_id`` has spent in budget ``period``."""
        return sum(e.epsilon for e in self.privacy_entries(member_id) if e.period == period)

    # --- metadata --------------------------------------------------------------------------
    @abstractmethod
    def get_meta(self, key: str) -> str | None:
        """Return a stored metadata value or ``None``."""

    @abstractmethod
    def set_meta(self, key: str, value: str) -> None:
        """Store a metadata value (insert or replace)."""

    def close(self) -> None:  # noqa: B027 - optional hook, a no-op by default
        """Release resources (connections); the store must not be used afterwards."""


__all__ = [
    "LEGAL_TRANSITIONS",
    "MEMBER_STATUSES",
    "ROUND_STATES",
    "TERMINAL_STATES",
    "ContributionEntry",
    "CoordinatorStore",
    "MemberRecord",
    "MemberStatus",
    "PrivacyEntry",
    "RewardEntry",
    "RoundCommit",
    "RoundRecord",
    "RoundState",
    "RoundTrigger",
    "check_transition",
    "utc",
]
