"""Alembic environment: runs smsgate's migrations against the configured database."""

from __future__ import annotations

from alembic import context
from smsgate.storage.database import create_engine
from smsgate.storage.models import Message

target_metadata = Message.metadata


def run_migrations() -> None:
    """Apply migrations on a live connection (smsgate never emits offline SQL)."""
    url = context.config.get_main_option("sqlalchemy.url")
    assert url is not None
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
                render_as_batch=connection.dialect.name == "sqlite",
                compare_type=True,
            )
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


run_migrations()
