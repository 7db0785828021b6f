"""delivery reports: the inbox of unmatched reports and the CleverTap relay outbox

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25

``delivery_inbox`` keeps a vendor's report that arrived before the send result that names
its vendor id (it happens: the vendor can report faster than we commit); it is matched when
that result is stored, or purged unmatched after the retention period. ``relay_outbox``
holds one row per (message, CleverTap event) still to be told, being told, told (``done``)
or refused (``dead``); the unique pair is what makes each event reach CleverTap once.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "delivery_inbox",
        sa.Column("id", BigId, nullable=False),
        sa.Column("nickname", sa.String(length=63), nullable=False),
        sa.Column("vendor_id", sa.String(length=128), nullable=False),
        sa.Column("to", sa.String(length=32), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("event", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=512), nullable=True),
        sa.Column("occurred_at", sa.DateTime(), nullable=False),
        sa.Column("received_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delivery_inbox_vendor", "delivery_inbox", ["nickname", "vendor_id"])
    op.create_index("ix_delivery_inbox_received", "delivery_inbox", ["received_at"])

    op.create_table(
        "relay_outbox",
        sa.Column("id", BigId, nullable=False),
        sa.Column("message_pk", BigId, nullable=False),
        sa.Column("nickname", sa.String(length=63), nullable=False),
        sa.Column("event", sa.String(length=16), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=64), nullable=True),
        sa.Column("last_error", sa.String(length=512), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("done_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(["message_pk"], ["messages.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("message_pk", "event", name="uq_relay_outbox_message_event"),
    )
    op.create_index(
        "ix_relay_outbox_due", "relay_outbox", ["state", "nickname", "next_attempt_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_relay_outbox_due", table_name="relay_outbox")
    op.drop_table("relay_outbox")
    op.drop_index("ix_delivery_inbox_received", table_name="delivery_inbox")
    op.drop_index("ix_delivery_inbox_vendor", table_name="delivery_inbox")
    op.drop_table("delivery_inbox")
