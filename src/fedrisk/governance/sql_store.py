"""SQL implementation of :class:`CoordinatorStore` (SQLAlchemy Core; SQLite or PostgreSQL).

The schema is created and upgraded by Alembic on open (:func:`migrate`), so an old state
directory is brought up to date by simply starting the new coordinator on it.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, Row, create_engine, delete, event, insert, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import ArgumentError, IntegrityError, NoSuchModuleError, OperationalError

from fedrisk.errors import ConfigError, GovernanceError
from fedrisk.governance import sql_schema as t
from fedrisk.governance.store import (
    MEMBER_STATUSES,
    ROUND_STATES,
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

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_TRIGGERS: tuple[RoundTrigger, ...] = ("schedule", "manual", "catch-up")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_sql_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite gets WAL, foreign keys and a 30 s busy timeout.

    Raises
    ------
    ConfigError
        For a malformed URL or a database driver that is not installed.
    """
    try:
        if url.startswith("sqlite"):
            engine = create_engine(url, connect_args={"timeout": 30})
            event.listen(engine, "connect", _sqlite_pragmas)
            return engine
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, NoSuchModuleError) as err:
        raise ConfigError(
            f"invalid database URL {url!r}: {err}; use sqlite:///path/state.db or postgresql+psycopg://..."
        ) from err
    except ModuleNotFoundError as err:
        raise ConfigError(
            f"the driver for {url.split(':', 1)[0]} is not installed ({err.name}); "
            "install it, e.g. `pip install 'psycopg[binary]'` for PostgreSQL"
        ) from err


def migrate(engine: Engine) -> None:
    """Apply every Alembic migration up to ``head`` (a no-op when already current)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except OperationalError as err:
        raise ConfigError(f"cannot open coordinator database {engine.url!r}: {err.orig}") from err


def _member(row: Row[Any]) -> MemberRecord:
    status = next((s for s in MEMBER_STATUSES if s == row.status), None)
    if status is None:
        raise GovernanceError(f"member '{row.id}' has unknown status {row.status!r} in the database")
    joined = row.joined if isinstance(row.joined, date) else date.fromisoformat(str(row.joined))
    return MemberRecord(
        id=row.id,
        display_name=row.display_name,
        organisation=row.organisation,
        public_key=row.public_key,
        tier=row.tier,
        status=status,
        joined=joined,
        exit_after_round=row.exit_after_round,
    )


def _member_values(member: MemberRecord) -> dict[str, object]:
    return {
        "id": member.id,
        "display_name": member.display_name,
        "organisation": member.organisation,
        "public_key": member.public_key,
        "tier": member.tier,
        "status": member.status,
        "joined": member.joined,
        "exit_after_round": member.exit_after_round,
    }


def _state(value: str) -> RoundState:
    state = next((s for s in ROUND_STATES if s == value), None)
    if state is None:
        raise GovernanceError(f"unknown round state {value!r} in the database")
    return state


def _round(row: Row[Any]) -> RoundRecord:
    trigger: RoundTrigger = next((x for x in _TRIGGERS if x == row.trigger), "manual")
    return RoundRecord(
        round_id=row.round_id,
        slot=row.slot,
        trigger=trigger,
        scheduled_for=utc(row.scheduled_for),
        state=_state(row.state),
        participants=tuple(json.loads(row.participants)),
        opened_at=utc(row.opened_at),
        updated_at=utc(row.updated_at),
        result_digest=row.result_digest,
        error=row.error,
    )


class SqlStore(CoordinatorStore):
    """Coordinator state in a SQL database, migrated with Alembic on open.

    Parameters
    ----------
    url:
        SQLAlchemy URL: ``sqlite:///state/coordinator.db`` (default kind) or
        ``postgresql+psycopg://user:pass@host/db``.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = create_sql_engine(url)
        migrate(self._engine)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._engine.begin() as connection:
            yield connection

    def close(self) -> None:
        self._engine.dispose()

    # --- members ---------------------------------------------------------------------------
    def add_member(self, member: MemberRecord) -> None:
        try:
            with self._tx() as c:
                c.execute(insert(t.members).values(**_member_values(member)))
        except IntegrityError as err:
            raise GovernanceError(f"member '{member.id}' already exists: choose another id") from err

    def update_member(self, member: MemberRecord) -> None:
        with self._tx() as c:
            values = _member_values(member)
            result = c.execute(update(t.members).where(t.members.c.id == member.id).values(**values))
            if result.rowcount != 1:
                raise GovernanceError(f"member '{member.id}' is not registered: join it first")

    def get_member(self, member_id: str) -> MemberRecord | None:
        with self._tx() as c:
            row = c.execute(select(t.members).where(t.members.c.id == member_id)).first()
        return None if row is None else _member(row)

    def list_members(self) -> list[MemberRecord]:
        with self._tx() as c:
            return [_member(r) for r in c.execute(select(t.members).order_by(t.members.c.id))]

    # --- rounds ----------------------------------------------------------------------------
    def open_round(
        self,
        *,
        slot: str,
        trigger: RoundTrigger,
        scheduled_for: datetime,
        participants: tuple[str, ...],
        now: datetime,
    ) -> RoundRecord:
        values = {
            "slot": slot,
            "trigger": trigger,
            "scheduled_for": utc(scheduled_for),
            "state": "scheduled",
            "participants": json.dumps(list(participants)),
            "opened_at": utc(now),
            "updated_at": utc(now),
        }
        try:
            with self._tx() as c:
                result = c.execute(insert(t.rounds).values(**values))
                key = result.inserted_primary_key
                assert key is not None
                round_id = int(key[0])
        except IntegrityError as err:
            raise GovernanceError(f"a round for slot '{slot}' already exists: a slot runs once") from err
        record = self.get_round(round_id)
        assert record is not None
        return record

    def _get_round(self, c: Connection, round_id: int) -> RoundRecord | None:
        row = c.execute(select(t.rounds).where(t.rounds.c.round_id == round_id)).first()
        return None if row is None else _round(row)

    def get_round(self, round_id: int) -> RoundRecord | None:
        with self._tx() as c:
            return self._get_round(c, round_id)

    def find_round(self, slot: str) -> RoundRecord | None:
        with self._tx() as c:
            row = c.execute(select(t.rounds).where(t.rounds.c.slot == slot)).first()
        return None if row is None else _round(row)

    def list_rounds(self) -> list[RoundRecord]:
        with self._tx() as c:
            return [_round(r) for r in c.execute(select(t.rounds).order_by(t.rounds.c.round_id))]

    def _require(self, c: Connection, round_id: int) -> RoundRecord:
        record = self._get_round(c, round_id)
        if record is None:
            raise GovernanceError(f"round {round_id} does not exist: list rounds with `fedrisk status`")
        return record

    def _move(self, c: Connection, record: RoundRecord, target: RoundState, values: dict[str, object]) -> None:
        """Compare-and-set the state, so two processes can never both move the same round."""
        check_transition(record.round_id, record.state, target)
        result = c.execute(
            update(t.rounds)
            .where(t.rounds.c.round_id == record.round_id, t.rounds.c.state == record.state)
            .values(state=target, **values)
        )
        if result.rowcount != 1:
            raise GovernanceError(f"round {record.round_id} changed state concurrently (was {record.state}); retry")

    def transition_round(
        self, round_id: int, target: RoundState, *, now: datetime, error: str | None = None
    ) -> RoundRecord:
        if target == "committed":
            raise GovernanceError("use commit_round to commit a round (it writes the ledgers atomically)")
        with self._tx() as c:
            record = self._require(c, round_id)
            self._move(c, record, target, {"updated_at": utc(now), "error": error})
            return self._require(c, round_id)

    def commit_round(self, round_id: int, commit: RoundCommit, *, now: datetime) -> RoundRecord:
        commit.check_round(round_id)
        with self._tx() as c:
            record = self._require(c, round_id)
            if record.state == "committed" and record.result_digest == commit.result_digest:
                return record
            values = {"updated_at": utc(now), "result_digest": commit.result_digest}
            self._move(c, record, "committed", values)
            self._insert_ledgers(c, commit)
            return self._require(c, round_id)

    @staticmethod
    def _insert_ledgers(c: Connection, commit: RoundCommit) -> None:
        if commit.privacy:
            c.execute(insert(t.privacy_ledger), [_row(e) for e in commit.privacy])
        if commit.contributions:
            c.execute(insert(t.contribution_ledger), [_row(e) for e in commit.contributions])
        if commit.rewards:
            c.execute(insert(t.rewards), [_row(e) for e in commit.rewards])

    def fail_unfinished(self, *, now: datetime, reason: str) -> list[RoundRecord]:
        with self._tx() as c:
            rows = c.execute(select(t.rounds.c.round_id).where(t.rounds.c.state.not_in(sorted(TERMINAL_STATES)))).all()
            ids = [int(r.round_id) for r in rows]
            for round_id in ids:
                record = self._require(c, round_id)
                self._move(c, record, "failed", {"updated_at": utc(now), "error": reason})
            return [self._require(c, round_id) for round_id in ids]

    # --- ledgers ---------------------------------------------------------------------------
    def privacy_entries(self, member_id: str | None = None) -> list[PrivacyEntry]:
        query = select(t.privacy_ledger).order_by(t.privacy_ledger.c.round_id, t.privacy_ledger.c.member_id)
        if member_id is not None:
            query = query.where(t.privacy_ledger.c.member_id == member_id)
        with self._tx() as c:
            return [PrivacyEntry(r.round_id, r.member_id, r.epsilon, r.delta, r.period) for r in c.execute(query)]

    def contribution_entries(self, member_id: str | None = None) -> list[ContributionEntry]:
        tbl = t.contribution_ledger
        query = select(tbl).order_by(tbl.c.round_id, tbl.c.member_id)
        if member_id is not None:
            query = query.where(tbl.c.member_id == member_id)
        with self._tx() as c:
            return [ContributionEntry(r.round_id, r.member_id, r.score) for r in c.execute(query)]

    def reward_entries(self, member_id: str | None = None) -> list[RewardEntry]:
        query = select(t.rewards).order_by(t.rewards.c.round_id, t.rewards.c.member_id)
        if member_id is not None:
            query = query.where(t.rewards.c.member_id == member_id)
        with self._tx() as c:
            return [RewardEntry(r.round_id, r.member_id, r.amount, r.currency) for r in c.execute(query)]

    # --- metadata --------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        with self._tx() as c:
            row = c.execute(select(t.meta.c.value).where(t.meta.c.key == key)).first()
        return None if row is None else str(row.value)

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as c:
            c.execute(delete(t.meta).where(t.meta.c.key == key))
            c.execute(insert(t.meta).values(key=key, value=value))


def _row(entry: PrivacyEntry | ContributionEntry | RewardEntry) -> dict[str, object]:
    return dataclasses.asdict(entry)


__all__ = ["MIGRATIONS_DIR", "SqlStore", "create_sql_engine", "migrate"]
