"""messages and message events

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "messages",
        sa.Column("id", BigId, nullable=False),
        sa.Column("nickname", sa.String(length=63), nullable=False),
        sa.Column("message_id", sa.String(length=255), nullable=False),
        sa.Column("tracked", sa.Boolean(), nullable=False),
        sa.Column("to", sa.String(length=32), nullable=False),
        sa.Column("raw_to", sa.String(length=64), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("template_id", sa.String(length=64), nullable=True),
        sa.Column("template_variables", sa.Text(), nullable=True),
        sa.Column("campaign_id", sa.String(length=128), nullable=True),
        sa.Column("extras", sa.JSON(), nullable=False),
        sa.Column("encoding", sa.String(length=8), nullable=False),
        sa.Column("segments", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_rank", sa.Integer(), nullable=False),
        sa.Column("vendor_id", sa.String(length=128), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("lease_until", sa.DateTime(), nullable=True),
        sa.Column("failure_code", sa.String(length=8), nullable=True),
        sa.Column("failure_description", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("nickname", "message_id", name="uq_messages_nickname_message_id"),
    )
    op.create_index("ix_messages_queue", "messages", ["status_rank", "next_attempt_at"])
    op.create_index("ix_messages_vendor_id", "messages", ["vendor_id"])

    op.create_table(
        "message_events",
        sa.Column("id", BigId, nullable=False),
        sa.Column("message_pk", BigId, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("code", sa.String(length=8), nullable=True),
        sa.Column("description", sa.String(length=512), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_message_events_message", "message_events", ["message_pk", "id"])


def downgrade() -> None:
    op.drop_index("ix_message_events_message", table_name="message_events")
    op.drop_table("message_events")
    op.drop_index("ix_messages_vendor_id", table_name="messages")
    op.drop_index("ix_messages_queue", table_name="messages")
    op.drop_table("messages")
