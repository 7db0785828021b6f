"""Alembic environment: runs smsgate's migrations against the configured database."""

from __future__ import annotations

from alembic import context

from smsgate.storage import models
from smsgate.storage.database import create_engine

# Every table is declared on SQLModel's one metadata, which importing the models registers.
# Migrations are hand-written; the metadata serves the schema comparison in the tests.
target_metadata = models.Message.metadata


def run_migrations() -> None:
    """Apply migrations on a live connection (smsgate never emits offline SQL).

    On SQLite the whole upgrade is one transaction, and foreign keys are off while it runs:
    a batch migration rebuilds a table by dropping it, and with foreign keys on that drop
    would cascade into the rows that refer to it. The keys are checked before the commit.
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
                context.run_migrations()
                if sqlite:
                    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"migration left rows with dangling keys: {broken}")
    finally:
        engine.dispose()


run_migrations()
