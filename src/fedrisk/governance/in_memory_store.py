"""An in-memory :class:`CoordinatorStore` for tests and dry runs (state is lost on exit)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import datetime

from fedrisk.errors import GovernanceError
from fedrisk.governance.store import (
    TERMINAL_STATES,
    ContributionEntry,
    CoordinatorStore,
    MemberRecord,
    PrivacyEntry,
    RewardEntry,
    RoundCommit,
    RoundRecord,
    RoundState,
    RoundTrigger,
    check_transition,
    utc,
)


class InMemoryStore(CoordinatorStore):
    """Dictionaries behind a lock; same contract as the SQL store."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._members: dict[str, MemberRecord] = {}
        self._rounds: dict[int, RoundRecord] = {}
        self._privacy: list[PrivacyEntry] = []
        self._contributions: list[ContributionEntry] = []
        self._rewards: list[RewardEntry] = []
        self._meta: dict[str, str] = {}

    def add_member(self, member: MemberRecord) -> None:
        with self._lock:
            if member.id in self._members:
                raise GovernanceError(f"member '{member.id}' already exists: choose another id")
            self._members[member.id] = member

    def update_member(self, member: MemberRecord) -> None:
        with self._lock:
            if member.id not in self._members:
                raise GovernanceError(f"member '{member.id}' is not registered: join it first")
            self._members[member.id] = member

    def get_member(self, member_id: str) -> MemberRecord | None:
        with self._lock:
            return self._members.get(member_id)

    def list_members(self) -> list[MemberRecord]:
        with self._lock:
            return [self._members[k] for k in sorted(self._members)]

    def open_round(
        self,
        *,
        slot: str,
        trigger: RoundTrigger,
        scheduled_for: datetime,
        participants: tuple[str, ...],
        now: datetime,
    ) -> RoundRecord:
        with self._lock:
            if self.find_round(slot) is not None:
                raise GovernanceError(f"a round for slot '{slot}' already exists: a slot runs once")
            round_id = max(self._rounds, default=0) + 1
            record = RoundRecord(
                round_id=round_id,
                slot=slot,
                trigger=trigger,
                scheduled_for=utc(scheduled_for),
                state="scheduled",
                participants=tuple(participants),
                opened_at=utc(now),
                updated_at=utc(now),
            )
            self._rounds[round_id] = record
            return record

    def get_round(self, round_id: int) -> RoundRecord | None:
        with self._lock:
            return self._rounds.get(round_id)

    def find_round(self, slot: str) -> RoundRecord | None:
        with self._lock:
            return next((r for r in self._rounds.values() if r.slot == slot), None)

    def list_rounds(self) -> list[RoundRecord]:
        with self._lock:
            return [self._rounds[k] for k in sorted(self._rounds)]

    def _require_round(self, round_id: int) -> RoundRecord:
        record = self._rounds.get(round_id)
        if record is None:
            raise GovernanceError(f"round {round_id} does not exist: list rounds with `fedrisk status`")
        return record

    def transition_round(
        self, round_id: int, target: RoundState, *, now: datetime, error: str | None = None
    ) -> RoundRecord:
        if target == "committed":
            raise GovernanceError("use commit_round to commit a round (it writes the ledgers atomically)")
        with self._lock:
            record = self._require_round(round_id)
            check_transition(round_id, record.state, target)
            updated = dataclasses.replace(record, state=target, updated_at=utc(now), error=error)
            self._rounds[round_id] = updated
            return updated

    def commit_round(self, round_id: int, commit: RoundCommit, *, now: datetime) -> RoundRecord:
        commit.check_round(round_id)
        with self._lock:
            record = self._require_round(round_id)
            if record.state == "committed" and record.result_digest == commit.result_digest:
                return record
            check_transition(round_id, record.state, "committed")
            updated = dataclasses.replace(
                record, state="committed", updated_at=utc(now), result_digest=commit.result_digest
            )
            self._rounds[round_id] = updated
            self._privacy.extend(commit.privacy)
            self._contributions.extend(commit.contributions)
            self._rewards.extend(commit.rewards)
            return updated

    def fail_unfinished(self, *, now: datetime, reason: str) -> list[RoundRecord]:
        with self._lock:
            changed = [
                self.transition_round(r.round_id, "failed", now=now, error=reason)
                for r in self.list_rounds()
                if r.state not in TERMINAL_STATES
            ]
            return changed

    def privacy_entries(self, member_id: str | None = None) -> list[PrivacyEntry]:
        with self._lock:
            return [e for e in self._privacy if member_id is None or e.member_id == member_id]

    def contribution_entries(self, member_id: str | None = None) -> list[ContributionEntry]:
        with self._lock:
            return [e for e in self._contributions if member_id is None or e.member_id == member_id]

    def reward_entries(self, member_id: str | None = None) -> list[RewardEntry]:
        with self._lock:
            return [e for e in self._rewards if member_id is None or e.member_id == member_id]

    def get_meta(self, key: str) -> str | None:
        with self._lock:
            return self._meta.get(key)

    def set_meta(self, key: str, value: str) -> None:
        with self._lock:
            self._meta[key] = value


__all__ = ["InMemoryStore"]
