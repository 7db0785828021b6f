"""``smsgate db upgrade``: creates or migrates the schema, and says plainly when it cannot."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from smsgate.cli import main
from smsgate.storage.database import check_schema, create_engine, head_revision


def upgrade_with(tmp_path: Path, url: str):
    path = tmp_path / "smsgate.toml"
    path.write_text(f'[gateway]\ndatabase_url = "{url}"\n')
    return CliRunner().invoke(main, ["db", "upgrade", "--config", str(path)])


def test_db_upgrade_creates_the_schema_on_an_empty_database(tmp_path, empty_database_url):
    result = upgrade_with(tmp_path, empty_database_url)
    assert result.exit_code == 0, result.output
    assert f"schema at revision {head_revision()} (newest)" in result.stdout
    engine = create_engine(empty_database_url)
    try:
        check_schema(engine)
        assert {"messages", "message_events"} <= set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_db_upgrade_twice_is_harmless(tmp_path, empty_database_url):
    assert upgrade_with(tmp_path, empty_database_url).exit_code == 0
    again = upgrade_with(tmp_path, empty_database_url)
    assert again.exit_code == 0, again.output
    assert f"schema at revision {head_revision()} (newest)" in again.stdout


def test_db_upgrade_refuses_a_schema_from_a_newer_smsgate(tmp_path, empty_database_url):
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE alembic_version (version_num VARCHAR(32))")
        connection.exec_driver_sql("INSERT INTO alembic_version VALUES ('9999_from_the_future')")
    engine.dispose()
    result = upgrade_with(tmp_path, empty_database_url)
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: the database is at revision 9999_from_the_future, which this smsgate does not know"
    )
    assert "Traceback" not in result.output


def test_db_upgrade_on_an_unreachable_database_exits_1_with_one_line(tmp_path):
    result = upgrade_with(tmp_path, "postgresql+psycopg://nobody:Pw-Secret@127.0.0.1:9/none")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot reach the database: ")
    assert result.stderr.count("\n") == 1
    assert "Pw-Secret" not in result.output
    assert "nobody:***@127.0.0.1:9/none" in result.stderr
    assert str(tmp_path / "smsgate.toml") in result.stderr


def test_a_sqlite_file_in_a_missing_folder_is_named_where_the_config_led(tmp_path):
    result = upgrade_with(tmp_path, "sqlite:///no/such/folder/smsgate.db")

    assert result.exit_code == 1
    assert "unable to open database file" in result.stderr
    assert f"sqlite:///{tmp_path}/no/such/folder/smsgate.db" in result.stderr


@pytest.mark.parametrize(
    ("url", "password"),
    [
        ("postgresql+psycopg:///none?host=127.0.0.1&user=postgres&password=QPW0rd", "QPW0rd"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/none?password=Secret77", "Secret77"),
        ("postgresql+psycopg://postgres@127.0.0.1:5432/none?PASSWORD=Secret77", "Secret77"),
        ("postgresql+psycopg://postgres:Pa@ssW0rdX@127.0.0.1/none", "ssW0rdX"),
    ],
    ids=["query-only", "query", "query-upper-case", "unencoded-at"],
)
def test_db_upgrade_never_shows_the_password_wherever_the_url_holds_it(tmp_path, url, password):
    result = upgrade_with(tmp_path, url)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: cannot ")
    assert result.stderr.count("\n") == 1
    assert password not in result.output
    assert "***" in result.stderr


def test_db_upgrade_on_a_file_that_is_not_a_database_exits_1_with_one_line(tmp_path):
    (tmp_path / "notdb.db").write_text("a shopping list, not a database\n")

    result = upgrade_with(tmp_path, "sqlite:///notdb.db")

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: cannot use the database: file is not a database "
        f"(sqlite:///{tmp_path}/notdb.db); check gateway.database_url in "
        f"{tmp_path / 'smsgate.toml'}\n"
    )


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("connect_timeout=abc", "bad value for connect_timeout: 'abc'"),
        ("foo=bar", 'invalid connection option "foo"'),
    ],
    ids=["bad-value", "unknown-parameter"],
)
def test_db_upgrade_with_a_url_parameter_the_driver_refuses_exits_1_with_one_line(
    tmp_path, postgres_database, query, reason
):
    result = upgrade_with(tmp_path, f"{postgres_database}?{query}")

    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: cannot use the database: {reason} (")
    assert result.stderr.count("\n") == 1


def test_db_upgrade_refuses_a_database_holding_someone_elses_tables(tmp_path, empty_database_url):
    engine = create_engine(empty_database_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE messages (subject TEXT, sender TEXT)")
    engine.dispose()

    result = upgrade_with(tmp_path, empty_database_url)

    assert result.exit_code == 1
    assert result.stderr.startswith("error: the database ")
    assert (
        "holds tables smsgate did not create (messages) and no alembic_version: point "
        "gateway.database_url at an empty database or at smsgate's own\n"
    ) in result.stderr
    assert "cannot reach" not in result.stderr


#: ``smsgate db upgrade``, begun at the moment given (seconds since the epoch): processes
#: that start together would otherwise spread over their import times and never meet.
UPGRADE_AT = """
import sys, time
from smsgate.cli import main
time.sleep(max(0.0, float(sys.argv[1]) - time.time()))
main(["db", "upgrade", "--config", sys.argv[2]])
"""


@pytest.mark.postgres
@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_db_upgrades_started_at_once_on_postgresql_take_turns(tmp_path, empty_database_url):
    path = tmp_path / "smsgate.toml"
    path.write_text(f'[gateway]\ndatabase_url = "{empty_database_url}"\n')
    start = str(time.time() + 5)
    runs = [
        subprocess.Popen(
            [sys.executable, "-c", UPGRADE_AT, start, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    done = [(run.wait(timeout=120), *run.communicate()) for run in runs]

    assert [status for status, _, _ in done] == [0] * 6, [err for _, _, err in done]
    for _, out, _ in done:
        assert f"schema at revision {head_revision()} (newest)" in out
