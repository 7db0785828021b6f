"""Alembic environment: runs smsgate's migrations against the configured database."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from smsgate.storage import models
from smsgate.storage.database import create_engine, refuse_foreign_schema

# Every table is declared on SQLModel's one metadata, which importing the models registers.
# Migrations are hand-written; the metadata serves the schema comparison in the tests.
target_metadata = models.Message.metadata
#: The PostgreSQL advisory lock that lets one migration run at a time ("smsgat" in ASCII).
MIGRATION_LOCK = 0x736D73676174


def run_migrations() -> None:
    """Apply migrations on a live connection (smsgate never emits offline SQL).

    On SQLite the whole upgrade is one transaction, and foreign keys are off while it runs:
    a batch migration rebuilds a table by dropping it, and with foreign keys on that drop
    would cascade into the rows that refer to it. The keys are checked before the commit.

    On PostgreSQL the transaction first takes an advisory lock: several processes upgrading
    an empty database at once would otherwise race to create the same tables, and all but
    one fail. The others wait for the first to commit, then find nothing left to do. (SQLite
    needs no lock: the transaction holds the file's write lock from its BEGIN.)
    """
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        raise RuntimeError("alembic_config() sets sqlalchemy.url; use smsgate.storage.database")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            sqlite = connection.dialect.name == "sqlite"
            if sqlite:
                # Straight to the driver: the pragma is a no-op inside a transaction, and
                # SQLAlchemy would open one for any statement sent through it.
                driver = connection.connection.driver_connection
                if driver is None:
                    raise RuntimeError("the SQLite connection is closed")
                driver.execute("PRAGMA foreign_keys=OFF")
            context.configure(
                connection=connection,
                target_metadata=target_metadata,
                # SQLite cannot ALTER most things; batch mode rebuilds the table instead.
                render_as_batch=sqlite,
                transactional_ddl=True,
                compare_type=True,
            )
            with context.begin_transaction():
                if not sqlite:
                    # Released at commit or rollback; the revision is read after it is held.
                    connection.execute(
                        sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK}
                    )
                refuse_foreign_schema(connection, context.get_context().get_current_revision())
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left rows with dangling keys: {broken}")
    finally:
        engine.dispose()


run_migrations()
