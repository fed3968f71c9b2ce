"""SQLAlchemy Core tables of the coordinator's state.

The Alembic migrations in ``governance/migrations/versions`` create exactly these tables; a test
compares the migrated database with this metadata so the two cannot drift apart.
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

METADATA = MetaData()

members = Table(
    "members",
    METADATA,
    Column("id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("organisation", String(200), nullable=False),
    Column("public_key", Text, nullable=False),
    Column("tier", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("joined", Date, nullable=False),
    Column("exit_after_round", Integer, nullable=True),
)

rounds = Table(
    "rounds",
    METADATA,
    Column("round_id", Integer, primary_key=True, autoincrement=True),
    Column("slot", String(100), nullable=False, unique=True),
    Column("trigger", String(16), nullable=False),
    Column("scheduled_for", DateTime(timezone=True), nullable=False),
    Column("state", String(16), nullable=False, index=True),
    Column("participants", Text, nullable=False),
    Column("opened_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("result_digest", String(128), nullable=True),
    Column("error", Text, nullable=True),
)

privacy_ledger = Table(
    "privacy_ledger",
    METADATA,
    Column("round_id", Integer, ForeignKey("rounds.round_id"), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("epsilon", Float, nullable=False),
    Column("delta", Float, nullable=False),
    Column("period", String(16), nullable=False),
    UniqueConstraint("round_id", "member_id", name="uq_privacy_round_member"),
)

contribution_ledger = Table(
    "contribution_ledger",
    METADATA,
    Column("round_id", Integer, ForeignKey("rounds.round_id"), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("score", Float, nullable=False),
    UniqueConstraint("round_id", "member_id", name="uq_contribution_round_member"),
)

rewards = Table(
    "rewards",
    METADATA,
    Column("round_id", Integer, ForeignKey("rounds.round_id"), nullable=False),
    Column("member_id", String(64), nullable=False),
    Column("amount", Float, nullable=False),
    Column("currency", String(8), nullable=False),
    UniqueConstraint("round_id", "member_id", name="uq_reward_round_member"),
)

meta = Table(
    "coordinator_meta",
    METADATA,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

__all__ = ["METADATA", "contribution_ledger", "members", "meta", "privacy_ledger", "rewards", "rounds"]
