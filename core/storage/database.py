"""The database: engines tuned per backend, migrations, and the schema check at start."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Engine
from sqlalchemy.pool import ConnectionPoolEntry

from smsgate.errors import SchemaOutdatedError
from smsgate.storage import models

MIGRATIONS = Path(__file__).parent / "migrations"
#: The execution option that marks a read-only engine (:func:`reading`).
_READ_ONLY = "smsgate_read_only"
#: Seconds to wait for PostgreSQL to answer a new connection, unless the URL, a service
#: file or PGCONNECT_TIMEOUT says.
_CONNECT_TIMEOUT = 5
#: Query keys whose value is a secret: libpq's password and its client key's passphrase.
_PASSWORD_KEYS = frozenset({"password", "sslpassword"})
#: Stands for a hidden query value until the URL is rendered (:func:`display_url`).
_HIDDEN = "smsgatehiddenvalue"
#: The tables smsgate's migrations create: a database holding one without a revision is
#: someone else's.
_OUR_TABLES = frozenset(models.Message.metadata.tables)


def create_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for ``url``; SQLite gets WAL, a busy timeout and full sync at commit."""
    if url.startswith("sqlite"):
        engine = sa.create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            **kwargs,
        )
        sa.event.listen(engine, "connect", _tune_sqlite)
        sa.event.listen(engine, "begin", _begin_immediate)
        return engine
    parsed = sa.make_url(url)
    said_elsewhere = {"connect_timeout", "service"} & set(parsed.query)
    if (
        parsed.get_backend_name() == "postgresql"
        and not said_elsewhere
        and "PGCONNECT_TIMEOUT" not in os.environ
    ):
        # A server that stops answering packets (rather than refusing) would otherwise hold
        # every connection attempt, /readyz's included, for the kernel's TCP timeout.
        kwargs["connect_args"] = {
            "connect_timeout": _CONNECT_TIMEOUT,
            **kwargs.get("connect_args", {}),
        }
    return sa.create_engine(url, pool_pre_ping=True, **kwargs)


def _tune_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    # WAL lets readers (the dashboard, readyz) run beside the one writer.
    cursor.execute("PRAGMA journal_mode=WAL")
    # FULL: a 202 means the rows survive a power cut, not just a crash.
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    # CleverTap's message ids land at random places in the unique index, so with a million
    # stored messages each batch dirties about a thousand index pages. Checkpointing the WAL
    # every 200 MB instead of every 4 MB writes a page once for many batches, and a 32 MB
    # page cache keeps the upper index levels in memory (measured: 2x the insert rate).
    cursor.execute("PRAGMA cache_size=-32768")
    cursor.execute("PRAGMA wal_autocheckpoint=50000")
    cursor.execute("PRAGMA journal_size_limit=67108864")
    cursor.close()


def reading(engine: Engine) -> Engine:
    """``engine`` for transactions that only read.

    On SQLite they begin without the write lock, so that a health check, a metrics scrape or
    an operator's search answers at once while a writer (a purge, say) holds it; in WAL mode
    a reader never waits for a writer. Elsewhere it is ``engine`` as it is.
    """
    return engine.execution_options(**{_READ_ONLY: True})


def file_gone(engine: Engine) -> str | None:
    """The path of ``engine``'s SQLite file when it no longer exists, else ``None``.

    A file deleted under a running gateway still answers queries through the open
    connections, and what is written to it is lost at the next start: not ready.
    """
    if engine.dialect.name != "sqlite":
        return None
    path = engine.url.database
    if not path or path == ":memory:" or path.startswith("file:"):
        return None
    return None if os.path.exists(path) else path


def _begin_immediate(connection: sa.Connection) -> None:
    if connection.get_execution_options().get(_READ_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    # Take the write lock at BEGIN: a deferred transaction that later writes can fail with
    # "database is locked" without waiting for the busy timeout.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> AlembicConfig:
    """Alembic's configuration for ``url``, without an alembic.ini file."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` to ``revision`` (the newest by default)."""
    command.upgrade(alembic_config(url), revision)


def downgrade(url: str, revision: str = "base") -> None:
    """Take the schema at ``url`` back to ``revision`` (``base``: no tables at all)."""
    command.downgrade(alembic_config(url), revision)


def head_revision() -> str | None:
    """The newest schema revision this version of smsgate knows."""
    return _scripts().get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema revision the database is at, or ``None`` for an empty database."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def check_schema(engine: Engine) -> None:
    """Raise :class:`SchemaOutdatedError` unless the database is at the newest revision."""
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
        refuse_foreign_schema(connection, current)
    head = head_revision()
    if current == head:
        return
    state = "empty" if current is None else f"at revision {current}"
    raise SchemaOutdatedError(
        f"the database is {state}, this smsgate needs revision {head}: "
        "run `smsgate db upgrade` (with the same --config) and start again"
    )


def refuse_foreign_schema(connection: sa.Connection, current: str | None) -> None:
    """Raise :class:`SchemaOutdatedError` when the schema is not one smsgate can migrate.

    ``current`` is the database's revision. A revision this version does not know comes from
    a newer smsgate, whose schema this one must not touch. Tables of smsgate's names without
    a revision belong to something else: migrating would fail on them, and reading them as
    smsgate's would report nonsense.
    """
    if current is not None:
        if not _knows(current):
            raise SchemaOutdatedError(
                f"the database is at revision {current}, which this smsgate does not know "
                f"(its newest is {head_revision()}): it was migrated by a newer smsgate; "
                "run that version"
            )
        return
    taken = sorted(_OUR_TABLES & set(sa.inspect(connection).get_table_names()))
    if taken:
        where = display_url(connection.engine.url.render_as_string(hide_password=False))
        raise SchemaOutdatedError(
            f"the database {where} holds tables smsgate did not create "
            f"({', '.join(taken)}) and no alembic_version: point gateway.database_url at "
            "an empty database or at smsgate's own"
        )


def prepare_schema(engine: Engine, url: str, *, auto_migrate: bool | None) -> None:
    """Migrate when allowed, then make sure the schema is the one this smsgate needs.

    ``auto_migrate`` ``None`` means: migrate SQLite (one process owns the file), never
    PostgreSQL, whose schema the operator upgrades with ``smsgate db upgrade``.
    Raises :class:`SchemaOutdatedError` when the schema is still not at the newest revision.
    """
    if auto_migrate is None:
        auto_migrate = engine.dialect.name == "sqlite"
    if auto_migrate:
        upgrade(url)
    check_schema(engine)


def display_url(url: str) -> str:
    """``url`` with its password hidden, fit for logs and messages.

    Hidden wherever the URL holds it: after the user name, and in the query
    (``?password=`` or ``?sslpassword=``, in any case, which libpq reads too).
    """
    parsed = sa.make_url(url)
    host = parsed.host
    if host and "@" in host:
        # The password held an unencoded "@": it ends at the last one, where the host begins.
        parsed = parsed.set(host=host.rpartition("@")[2])
    hidden = {key: _HIDDEN for key in parsed.query if _is_password(key, parsed.query[key])}
    if hidden:
        parsed = parsed.update_query_dict(hidden)
    # The placeholder is rendered as it is; "***" in a query would be percent-encoded.
    return parsed.render_as_string(hide_password=True).replace(_HIDDEN, "***")


def url_passwords(url: str) -> list[str]:
    """Every password ``url`` holds, longest first, to take out of a driver's message.

    A driver may quote what it was given: with an unencoded "@" in the password the part
    after it is taken for the host, and "failed to resolve host" names it.
    """
    parsed = sa.make_url(url)
    found: list[str] = []
    if parsed.password is not None:
        found.append(str(parsed.password))
        host = parsed.host or ""
        if "@" in host:
            rest = host.rpartition("@")[0]
            found += [rest, f"{parsed.password}@{rest}"]
    for key, value in parsed.query.items():
        if _is_password(key, value):
            found += [value] if isinstance(value, str) else list(value)
    # Every piece, however short: these only ever mask a driver's one-line message (the log
    # redaction keeps its own lower bound).
    return sorted({value for value in found if value}, key=len, reverse=True)


def _is_password(key: str, value: str | tuple[str, ...]) -> bool:
    values = [value] if isinstance(value, str) else value
    # A whole libpq connection string may ride in one parameter (dbname=...): hide it too.
    return key.casefold() in _PASSWORD_KEYS or any("password=" in v.casefold() for v in values)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def _knows(revision: str) -> bool:
    try:
        return _scripts().get_revision(revision) is not None
    except CommandError:
        return False
