"""Engines per backend, and the schema check that decides whether ``serve`` may start."""

from __future__ import annotations

import socket
import sqlite3
import time

import pytest
import sqlalchemy as sa

from smsgate.errors import SchemaOutdatedError
from smsgate.storage.database import (
    check_schema,
    create_engine,
    current_revision,
    display_url,
    head_revision,
    prepare_schema,
    upgrade,
    url_passwords,
)


@pytest.fixture
def sqlite_file(tmp_path):
    return tmp_path / "gw.db"


def test_sqlite_runs_in_wal_mode_with_full_sync_and_foreign_keys(sqlite_file):
    engine = create_engine(f"sqlite:///{sqlite_file}")
    try:
        with engine.connect() as connection:
            pragma = connection.exec_driver_sql
            assert pragma("PRAGMA journal_mode").scalar() == "wal"
            assert pragma("PRAGMA synchronous").scalar() == 2  # FULL
            assert pragma("PRAGMA foreign_keys").scalar() == 1
            assert pragma("PRAGMA busy_timeout").scalar() == 30000
    finally:
        engine.dispose()


def test_sqlite_transaction_holds_the_write_lock_from_its_begin(sqlite_file):
    engine = create_engine(f"sqlite:///{sqlite_file}")
    other = sqlite3.connect(sqlite_file, timeout=0, isolation_level=None)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql("SELECT 1")  # reads only, so far
            # A deferred transaction would let another writer in until its first write.
            with pytest.raises(sqlite3.OperationalError, match="database is locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again after the commit
        other.execute("ROLLBACK")
    finally:
        other.close()
        engine.dispose()


def test_postgresql_goes_through_psycopg_3(database_url):
    engine = create_engine(database_url)
    try:
        expected = {"sqlite": "pysqlite", "postgresql": "psycopg"}[engine.dialect.name]
        assert engine.dialect.driver == expected
    finally:
        engine.dispose()


def test_a_postgresql_server_that_never_answers_fails_the_connection_within_seconds():
    # Accepts the TCP connection, then says nothing: as a host dropping packets would.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        engine = create_engine(f"postgresql+psycopg://smsgate@127.0.0.1:{port}/smsgate")
        started = time.monotonic()
        try:
            with pytest.raises(sa.exc.OperationalError, match="timeout"):
                engine.connect()
        finally:
            engine.dispose()
    assert time.monotonic() - started < 20


def test_schema_at_head_passes_the_check(engine):
    check_schema(engine)
    assert current_revision(engine) == head_revision()


def test_empty_database_fails_the_check_with_what_to_run(empty_database_url):
    engine = create_engine(empty_database_url)
    try:
        with pytest.raises(SchemaOutdatedError) as caught:
            check_schema(engine)
    finally:
        engine.dispose()
    assert str(caught.value) == (
        f"the database is empty, this smsgate needs revision {head_revision()}: "
        "run `smsgate db upgrade` (with the same --config) and start again"
    )


def test_older_schema_fails_the_check_naming_both_revisions(empty_database_url):
    upgrade(empty_database_url, "0001")
    engine = create_engine(empty_database_url)
    try:
        with pytest.raises(SchemaOutdatedError, match=r"at revision 0001, this smsgate needs"):
            check_schema(engine)
    finally:
        engine.dispose()


def test_prepare_schema_migrates_sqlite_and_leaves_postgresql_to_the_operator(
    empty_database_url,
):
    engine = create_engine(empty_database_url)
    try:
        if engine.dialect.name == "sqlite":
            prepare_schema(engine, empty_database_url, auto_migrate=None)
            assert current_revision(engine) == head_revision()
        else:
            with pytest.raises(SchemaOutdatedError, match="run `smsgate db upgrade`"):
                prepare_schema(engine, empty_database_url, auto_migrate=None)
            assert current_revision(engine) is None
    finally:
        engine.dispose()


@pytest.mark.parametrize("auto_migrate", [True, False])
def test_auto_migrate_setting_overrides_the_default(empty_database_url, auto_migrate):
    engine = create_engine(empty_database_url)
    try:
        if auto_migrate:
            prepare_schema(engine, empty_database_url, auto_migrate=True)
            assert current_revision(engine) == head_revision()
        else:
            with pytest.raises(SchemaOutdatedError):
                prepare_schema(engine, empty_database_url, auto_migrate=False)
    finally:
        engine.dispose()


def test_database_url_is_shown_without_its_password():
    url = "postgresql+psycopg://gw:Pa55-word@db.internal:5432/smsgate"
    assert display_url(url) == "postgresql+psycopg://gw:***@db.internal:5432/smsgate"
    assert display_url("sqlite:////var/lib/smsgate.db") == "sqlite:////var/lib/smsgate.db"
    assert sa.make_url(display_url(url)).database == "smsgate"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql+psycopg:///db?host=127.0.0.1&user=postgres&password=QPW0rd",
            "postgresql+psycopg:///db?host=127.0.0.1&password=***&user=postgres",
        ),
        (
            "postgresql+psycopg://postgres@127.0.0.1:5432/x?Password=Secret77",
            "postgresql+psycopg://postgres@127.0.0.1:5432/x?Password=***",
        ),
        (
            "postgresql+psycopg://postgres:Pa@ssW0rdX@127.0.0.1/x",
            "postgresql+psycopg://postgres:***@127.0.0.1/x",
        ),
        (
            "postgresql+psycopg:///x?dbname=host%3Dh+password%3DInDsn9",
            "postgresql+psycopg:///x?dbname=***",
        ),
        (
            "postgresql+psycopg://gw@db/x?sslmode=verify-full&sslpassword=KeyPass9",
            "postgresql+psycopg://gw@db/x?sslmode=verify-full&sslpassword=***",
        ),
    ],
    ids=["query-only", "query-any-case", "unencoded-at", "connection-string", "key-passphrase"],
)
def test_a_password_is_hidden_wherever_the_url_holds_it(url, shown):
    assert display_url(url) == shown


def test_every_piece_of_a_password_split_by_an_unencoded_at_is_known_however_short():
    # The driver takes "Z9@db" for the host and names it in its error.
    assert set(url_passwords("postgresql+psycopg://u:Xy@Z9@db/x")) >= {"Xy", "Z9"}
