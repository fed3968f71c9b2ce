"""One contract, every backend: the in-memory store and the SQL store (SQLite file)."""

from __future__ import annotations

import dataclasses
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from fedrisk.errors import ConfigError, GovernanceError
from fedrisk.governance.in_memory_store import InMemoryStore
from fedrisk.governance.sql_schema import METADATA
from fedrisk.governance.sql_store import SqlStore, create_sql_engine
from fedrisk.governance.store import (
    ContributionEntry,
    CoordinatorStore,
    MemberRecord,
    PrivacyEntry,
    RewardEntry,
    RoundCommit,
)
from fedrisk.governance.store_factory import MEMORY_URL, create_store

T0 = datetime(2024, 3, 6, 2, 0, tzinfo=UTC)


def _member(member_id: str, tier: str = "full") -> MemberRecord:
    return MemberRecord(
        member_id, member_id.title(), f"{member_id} Ltd", "ed25519:00", tier, "active", date(2024, 1, 3)
    )


def _commit(round_id: int, digest: str = "abc") -> RoundCommit:
    ids = ("a", "b", "c")
    return RoundCommit(
        result_digest=digest,
        privacy=tuple(PrivacyEntry(round_id, m, 0.5, 1e-5, "2024") for m in ids),
        contributions=tuple(ContributionEntry(round_id, m, s) for m, s in zip(ids, (0.5, 0.3, 0.2), strict=True)),
        rewards=tuple(RewardEntry(round_id, m, a, "USD") for m, a in zip(ids, (50.0, 30.0, 20.0), strict=True)),
    )


class StoreContract:
    """Behaviour every :class:`CoordinatorStore` must have."""

    __test__ = False

    def store_factory(self, tmp_path: Path) -> CoordinatorStore:
        raise NotImplementedError

    def _running_to_aggregating(self, store: CoordinatorStore, slot: str = "s1") -> int:
        rnd = store.open_round(slot=slot, trigger="schedule", scheduled_for=T0, participants=("a", "b", "c"), now=T0)
        store.transition_round(rnd.round_id, "running", now=T0)
        store.transition_round(rnd.round_id, "aggregating", now=T0)
        return rnd.round_id

    def test_members_add_get_update_list(self, tmp_path: Path) -> None:
        # Arrange
        store = self.store_factory(tmp_path)
        # Act
        store.add_member(_member("kraken"))
        store.add_member(_member("binance", "lite"))
        store.update_member(dataclasses.replace(_member("binance", "full"), status="suspended"))
        # Assert
        assert [m.id for m in store.list_members()] == ["binance", "kraken"]
        got = store.get_member("binance")
        assert got is not None and got.tier == "full" and got.status == "suspended"
        assert got.joined == date(2024, 1, 3)
        assert store.get_member("nobody") is None
        with pytest.raises(GovernanceError, match="already exists"):
            store.add_member(_member("kraken"))
        with pytest.raises(GovernanceError, match="not registered"):
            store.update_member(_member("nobody"))

    def test_round_lifecycle_and_ids(self, tmp_path: Path) -> None:
        store = self.store_factory(tmp_path)
        # Act
        r1 = store.open_round(slot="s1", trigger="schedule", scheduled_for=T0, participants=("a", "b", "c"), now=T0)
        r2 = store.open_round(slot="s2", trigger="manual", scheduled_for=T0, participants=(), now=T0)
        running = store.transition_round(r1.round_id, "running", now=T0 + timedelta(seconds=1))
        # Assert
        assert (r1.round_id, r2.round_id) == (1, 2)
        assert r1.state == "scheduled" and r1.participants == ("a", "b", "c")
        assert running.state == "running" and running.updated_at == T0 + timedelta(seconds=1)
        assert running.scheduled_for == T0 and running.scheduled_for.tzinfo is not None
        assert store.find_round("s2") == r2 and store.find_round("nope") is None
        assert [r.round_id for r in store.list_rounds()] == [1, 2]
        with pytest.raises(GovernanceError, match="already exists"):
            store.open_round(slot="s1", trigger="schedule", scheduled_for=T0, participants=(), now=T0)

    @pytest.mark.parametrize(
        ("path", "target"),
        [((), "aggregating"), (("running",), "scheduled"), (("failed",), "running"), ((), "committed")],
    )
    def test_illegal_transitions_refused(self, tmp_path: Path, path: tuple[str, ...], target: str) -> None:
        store = self.store_factory(tmp_path)
        rnd = store.open_round(slot="s", trigger="schedule", scheduled_for=T0, participants=(), now=T0)
        for state in path:
            store.transition_round(rnd.round_id, state, now=T0)  # type: ignore[arg-type]
        with pytest.raises(GovernanceError):
            store.transition_round(rnd.round_id, target, now=T0)  # type: ignore[arg-type]
        with pytest.raises(GovernanceError, match="does not exist"):
            store.transition_round(99, "running", now=T0)

    def test_commit_writes_ledgers_atomically_and_is_idempotent(self, tmp_path: Path) -> None:
        store = self.store_factory(tmp_path)
        round_id = self._running_to_aggregating(store)
        # Act
        first = store.commit_round(round_id, _commit(round_id), now=T0)
        again = store.commit_round(round_id, _commit(round_id), now=T0 + timedelta(hours=1))
        # Assert
        assert first.state == "committed" and first.result_digest == "abc"
        assert again == first
        assert len(store.privacy_entries()) == 3 and len(store.reward_entries()) == 3
        assert store.privacy_spent("a", "2024") == pytest.approx(0.5)
        assert store.privacy_spent("a", "2025") == 0.0
        assert [e.score for e in store.contribution_entries("b")] == [pytest.approx(0.3)]
        assert sum(e.amount for e in store.reward_entries()) == pytest.approx(100.0)
        with pytest.raises(GovernanceError, match="illegal transition committed"):
            store.commit_round(round_id, _commit(round_id, "other"), now=T0)
        with pytest.raises(GovernanceError):
            store.transition_round(round_id, "failed", now=T0)
        assert len(store.privacy_entries()) == 3

    def test_commit_refused_unless_aggregating(self, tmp_path: Path) -> None:
        store = self.store_factory(tmp_path)
        rnd = store.open_round(slot="s", trigger="schedule", scheduled_for=T0, participants=(), now=T0)
        store.transition_round(rnd.round_id, "running", now=T0)
        with pytest.raises(GovernanceError, match="running → committed"):
            store.commit_round(rnd.round_id, _commit(rnd.round_id), now=T0)
        assert store.privacy_entries() == [] and store.get_round(rnd.round_id).state == "running"  # type: ignore[union-attr]

    def test_bad_commit_writes_nothing(self, tmp_path: Path) -> None:
        store = self.store_factory(tmp_path)
        round_id = self._running_to_aggregating(store)
        wrong_round = dataclasses.replace(_commit(round_id), rewards=(RewardEntry(round_id + 7, "a", 1.0, "USD"),))
        duplicate = dataclasses.replace(_commit(round_id), contributions=(ContributionEntry(round_id, "a", 0.1),) * 2)
        for bad in (wrong_round, duplicate):
            with pytest.raises(GovernanceError):
                store.commit_round(round_id, bad, now=T0)
        rnd = store.get_round(round_id)
        assert rnd is not None and rnd.state == "aggregating"
        assert store.reward_entries() == [] and store.contribution_entries() == []

    def test_fail_unfinished(self, tmp_path: Path) -> None:
        store = self.store_factory(tmp_path)
        done = self._running_to_aggregating(store, "s1")
        store.commit_round(done, _commit(done), now=T0)
        stuck = store.open_round(slot="s2", trigger="schedule", scheduled_for=T0, participants=(), now=T0)
        store.transition_round(stuck.round_id, "running", now=T0)
        # Act
        changed = store.fail_unfinished(now=T0, reason="interrupted")
        # Assert
        assert [r.round_id for r in changed] == [stuck.round_id]
        assert changed[0].state == "failed" and changed[0].error == "interrupted"
        assert store.get_round(done).state == "committed"  # type: ignore[union-attr]
        assert store.fail_unfinished(now=T0, reason="again") == []

    def test_meta(self, tmp_path: Path) -> None:
        store = self.store_factory(tmp_path)
        assert store.get_meta("anchor") is None
        store.set_meta("anchor", "x")
        store.set_meta("anchor", "y")
        assert store.get_meta("anchor") == "y"


class TestInMemoryStore(StoreContract):
    __test__ = True

    def store_factory(self, tmp_path: Path) -> CoordinatorStore:
        return create_store(MEMORY_URL)


class TestSqlStore(StoreContract):
    __test__ = True

    def store_factory(self, tmp_path: Path) -> CoordinatorStore:
        return create_store(state_dir=tmp_path / "state")


def test_sql_state_survives_reopen_and_migration_is_idempotent(tmp_path: Path) -> None:
    # Arrange
    url = f"sqlite:///{tmp_path / 'c.db'}"
    first = SqlStore(url)
    first.add_member(_member("kraken"))
    first.close()
    # Act
    second = SqlStore(url)
    # Assert
    assert [m.id for m in second.list_members()] == ["kraken"]


def test_migrations_match_schema(tmp_path: Path) -> None:
    # Arrange
    store = SqlStore(f"sqlite:///{tmp_path / 'c.db'}")
    engine = create_sql_engine(store.url)
    # Act
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), METADATA)
        tables = set(inspect(conn).get_table_names())
    # Assert
    assert diff == []
    assert {
        "members",
        "rounds",
        "privacy_ledger",
        "contribution_ledger",
        "rewards",
        "alembic_version",
    } <= tables


def test_factory_errors() -> None:
    with pytest.raises(ConfigError, match="--state-dir"):
        create_store()
    with pytest.raises(ConfigError, match="invalid database URL"):
        create_store("nonsense://x")
    assert isinstance(create_store(MEMORY_URL), InMemoryStore)


def test_postgres_url_goes_through_the_same_code() -> None:
    # The SQL store takes any SQLAlchemy URL; without a PostgreSQL driver installed we get a clear error.
    try:
        import psycopg  # noqa: F401
    except ModuleNotFoundError:
        with pytest.raises(ConfigError, match="psycopg"):
            create_store("postgresql+psycopg://fed:pw@localhost:5432/fedrisk")
    else:  # pragma: no cover - driver present but no server here
        pytest.skip("psycopg installed; needs a live PostgreSQL server")
