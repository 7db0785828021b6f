"""relay outbox: one row per click and per reply, not one per message

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-26

Until now the outbox held at most one row per (message, event), so a recipient's second
reply (a ``STOP`` after a ``YES``) or second click never reached CleverTap. The new
``occurrence`` column tells clicks and replies apart by a digest of their record; it is
empty for ``delivered`` and ``failed``, which stay one per message. Existing rows keep an
empty occurrence, so nothing already queued is queued twice (a vendor repeating, after the
upgrade, a click it reported before it would be relayed once more).

Stop every gateway process before ``smsgate db upgrade``: an older process's relay writes
name the old constraint and fail on the new one. The column keeps its server default, so
that an older process's plain inserts still work. SQLite cannot change a constraint in
place: the table is copied (batch mode).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("relay_outbox") as batch:
        batch.add_column(
            sa.Column("occurrence", sa.String(length=64), nullable=False, server_default="")
        )
        batch.drop_constraint("uq_relay_outbox_message_event", type_="unique")
        batch.create_unique_constraint(
            "uq_relay_outbox_occurrence", ["message_pk", "event", "occurrence"]
        )


def downgrade() -> None:
    # The older schema has room for one click and one reply per message: the first stays.
    outbox = sa.table("relay_outbox", sa.column("id"), sa.column("message_pk"), sa.column("event"))
    first = (
        sa.select(sa.func.min(outbox.c.id))
        .group_by(outbox.c.message_pk, outbox.c.event)
        .scalar_subquery()
    )
    op.execute(sa.delete(outbox).where(outbox.c.id.not_in(first)))
    with op.batch_alter_table("relay_outbox") as batch:
        batch.drop_constraint("uq_relay_outbox_occurrence", type_="unique")
        batch.create_unique_constraint("uq_relay_outbox_message_event", ["message_pk", "event"])
        batch.drop_column("occurrence")
