"""``smsgate db upgrade``: creates or migrates the schema, and says plainly when it cannot."""

from __future__ import annotations

from pathlib import Path

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
