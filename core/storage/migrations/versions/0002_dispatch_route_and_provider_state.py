"""dispatch: the route of a message and each nickname's shared throttle

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25

``messages.route`` names the nickname whose plugin sends a message (its own nickname until a
fallback moves it). ``provider_state`` holds one row per nickname: the token bucket of its
rate limit and its circuit breaker, shared by every gateway process on the database.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable, so that SQLite adds it in place: a batch rebuild of `messages` would drop the
    # table, and with foreign keys on that cascades into `message_events`. Every insert fills
    # it (the model's default is the row's own nickname), and existing rows are filled here.
    op.add_column("messages", sa.Column("route", sa.String(length=63), nullable=True))
    op.execute("UPDATE messages SET route = nickname")
    op.create_index(
        "ix_messages_route_queue", "messages", ["route", "status_rank", "next_attempt_at"]
    )

    op.create_table(
        "provider_state",
        sa.Column("nickname", sa.String(length=63), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("refilled_at", sa.DateTime(), nullable=False),
        sa.Column("circuit", sa.String(length=16), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("opened_at", sa.DateTime(), nullable=True),
        sa.Column("open_since", sa.DateTime(), nullable=True),
        sa.Column("open_reason", sa.String(length=512), nullable=True),
        sa.Column("unusable", sa.Boolean(), nullable=False),
        sa.Column("probe_until", sa.DateTime(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("nickname"),
    )


def downgrade() -> None:
    op.drop_table("provider_state")
    op.drop_index("ix_messages_route_queue", table_name="messages")
    op.drop_column("messages", "route")
