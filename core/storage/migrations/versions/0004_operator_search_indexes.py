"""operators: indexes for searching messages and for the overview's time windows

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25

The dashboard, the admin API and the CLI find messages by number and by campaign, newest
first (``(to, id)``, ``(campaign_id, id)``); count the last hour's and day's messages and
purge old ones by creation time (``created_at``); and compute delivery report latency from
the newest final reports (``message_events.recorded_at``). Without these each of those is a
full table scan.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_messages_to", "messages", ["to", "id"])
    op.create_index("ix_messages_campaign", "messages", ["campaign_id", "id"])
    op.create_index("ix_messages_created", "messages", ["created_at"])
    op.create_index("ix_message_events_recorded", "message_events", ["recorded_at"])


def downgrade() -> None:
    op.drop_index("ix_message_events_recorded", table_name="message_events")
    op.drop_index("ix_messages_created", table_name="messages")
    op.drop_index("ix_messages_campaign", table_name="messages")
    op.drop_index("ix_messages_to", table_name="messages")
