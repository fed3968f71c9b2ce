"""Initial coordinator state: members, rounds, privacy and contribution ledgers, rewards, meta.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create all tables."""
    op.create_table(
        "members",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("organisation", sa.String(200), nullable=False),
        sa.Column("public_key", sa.Text, nullable=False),
        sa.Column("tier", sa.String(32), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("joined", sa.Date, nullable=False),
        sa.Column("exit_after_round", sa.Integer, nullable=True),
    )
    op.create_table(
        "rounds",
        sa.Column("round_id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("slot", sa.String(100), nullable=False, unique=True),
        sa.Column("trigger", sa.String(16), nullable=False),
        sa.Column("scheduled_for", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("participants", sa.Text, nullable=False),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("result_digest", sa.String(128), nullable=True),
        sa.Column("error", sa.Text, nullable=True),
    )
    op.create_index("ix_rounds_state", "rounds", ["state"])
    op.create_table(
        "privacy_ledger",
        sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.round_id"), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("epsilon", sa.Float, nullable=False),
        sa.Column("delta", sa.Float, nullable=False),
        sa.Column("period", sa.String(16), nullable=False),
        sa.UniqueConstraint("round_id", "member_id", name="uq_privacy_round_member"),
    )
    op.create_table(
        "contribution_ledger",
        sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.round_id"), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.UniqueConstraint("round_id", "member_id", name="uq_contribution_round_member"),
    )
    op.create_table(
        "rewards",
        sa.Column("round_id", sa.Integer, sa.ForeignKey("rounds.round_id"), nullable=False),
        sa.Column("member_id", sa.String(64), nullable=False),
        sa.Column("amount", sa.Float, nullable=False),
        sa.Column("currency", sa.String(8), nullable=False),
        sa.UniqueConstraint("round_id", "member_id", name="uq_reward_round_member"),
    )
    op.create_table(
        "coordinator_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )


def downgrade() -> None:
    """Drop all tables."""
    for table in ("coordinator_meta", "rewards", "contribution_ledger", "privacy_ledger"):
        op.drop_table(table)
    op.drop_index("ix_rounds_state", table_name="rounds")
    op.drop_table("rounds")
    op.drop_table("members")
