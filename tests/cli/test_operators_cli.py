"""``smsgate messages``, ``smsgate stats`` and ``smsgate purge`` on a real database."""

from __future__ import annotations

import json
import sqlite3
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from message_builders import accept, dispatch, kill_relays, message, texts

from smsgate.cli import main
from smsgate.storage.models import Message, utcnow

MESSAGES = Message.__table__  # type: ignore[attr-defined]


@pytest.fixture
def run(make_config, database_url):
    config = make_config(database_url)

    def invoke(*args: str):
        return CliRunner().invoke(main, [*args, "--config", str(config.path)])

    return invoke


def test_messages_list_filters_and_pages(run, engine):
    accept(engine, texts(5, campaign="diwali"), utcnow())

    first = run("messages", "list", "--campaign", "diwali", "--limit", "2")
    assert first.exit_code == 0, first.output
    lines = first.output.splitlines()
    assert lines[0].split() == [
        "ID",
        "CREATED",
        "(UTC)",
        "NICKNAME",
        "TO",
        "STATUS",
        "CODE",
        "MESSAGE",
        "ID",
    ]
    assert ["m5." in lines[1], "m4." in lines[2]] == [True, True]
    cursor = lines[-1].split("--cursor ")[1]
    rest = run("messages", "list", "--campaign", "diwali", "--cursor", cursor, "--json")
    assert [m["message_id"] for m in json.loads(rest.output)["items"]] == ["m3.", "m2.", "m1."]
    assert run("messages", "list", "--number", "+91 98450 00003", "--json").exit_code == 0
    assert run("messages", "list", "--status", "lost").exit_code == 2
    assert run("messages", "list", "--since", "last week").exit_code == 2


def test_an_empty_list_for_a_nickname_not_configured_says_so(run, engine):
    accept(engine, texts(1), utcnow())

    typo = run("messages", "list", "--nickname", "pingbx-in")
    known = run("messages", "list", "--nickname", "pingbix-in", "--status", "failed")

    assert typo.output == "no message matches (no nickname 'pingbx-in' is configured)\n"
    assert known.output == "no message matches\n"


def test_a_command_on_a_sqlite_file_that_does_not_exist_says_so_and_creates_none(
    make_config, tmp_path
):
    missing = tmp_path / "typo.db"
    config = make_config(f"sqlite:///{missing}")

    result = CliRunner().invoke(main, ["stats", "--config", str(config.path)])

    assert result.exit_code == 1
    assert f"there is no database at {missing}" in result.output
    assert not missing.exists()


def test_messages_show_by_id_or_message_id(run, engine):
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, failed={"m1.": "910"})

    shown = run("messages", "show", "m1.")

    assert shown.exit_code == 0, shown.output
    assert "status: failed 910" in shown.output
    assert "actions: retry" in shown.output
    assert "sending" in shown.output and "refused by the vendor" in shown.output
    as_json = json.loads(run("messages", "show", str(message(engine, "m1.").id), "--json").output)
    assert as_json["relays"][0]["event"] == "failed"
    missing = run("messages", "show", "nope.")
    assert missing.exit_code == 1 and "no message" in missing.output


def test_messages_retry_resends_unknown_only_when_told(run, engine):
    now = utcnow()
    accept(engine, texts(2), now)
    dispatch(engine, now, failed={"m1.": "905"}, unknown=["m2."])
    failed, lost = message(engine, "m1.").id, message(engine, "m2.").id

    assert "queued to be sent again" in run("messages", "retry", str(failed)).output
    refused = run("messages", "retry", str(lost))
    assert refused.exit_code == 1 and "--resend-unknown" in refused.output
    assert message(engine, "m2.").status == "unknown"
    assert run("messages", "retry", str(lost), "--resend-unknown").exit_code == 0
    assert message(engine, "m2.").status == "accepted"
    assert run("messages", "retry", "999999").exit_code == 1


def test_messages_cancel_fails_a_waiting_message(run, engine):
    accept(engine, texts(1), utcnow())
    pk = str(message(engine, "m1.").id)

    assert run("messages", "cancel", pk, "--code", "917").exit_code == 0
    assert message(engine, "m1.").failure_code == "917"
    assert run("messages", "cancel", pk).exit_code == 1
    assert run("messages", "cancel", pk, "--code", "42").exit_code == 2


def test_stats_prints_every_nickname(run, engine):
    now = utcnow()
    accept(engine, texts(3), now)
    dispatch(engine, now, failed={"m1.": "910"})

    printed = run("stats")

    assert printed.exit_code == 0, printed.output
    assert "pingbix-in" in printed.output and "CIRCUIT" in printed.output
    figures = json.loads(run("stats", "--json").output)
    assert figures["nicknames"][0]["last_hour"]["counts"]["failed"] == 1
    assert figures["nicknames"][0]["queue_depth"] == 2


def test_purge_deletes_old_messages_and_refuses_a_dangerously_short_age(run, engine):
    now = utcnow()
    accept(engine, texts(3, prefix="old"), now - timedelta(days=100))
    accept(engine, texts(2, prefix="new"), now)

    dry = run("purge", "--older-than", "90d", "--dry-run")
    assert dry.exit_code == 0 and dry.output.startswith("3 message(s)")
    done = run("purge", "--older-than", "90d", "--batch-size", "2")
    assert done.exit_code == 0 and done.output.startswith("deleted 3 message(s)")
    with engine.connect() as connection:
        left = connection.execute(sa.select(MESSAGES.c.message_id)).scalars().all()
    assert sorted(left) == ["new1.", "new2."]
    short = run("purge", "--older-than", "1h")
    assert short.exit_code == 2 and "at least 106h" in short.output
    assert run("purge", "--older-than", "ninety days").exit_code == 2


def test_purge_dry_run_counts_exactly_what_purge_deletes(run, engine):
    now = utcnow()
    old = now - timedelta(days=200)
    accept(engine, texts(7, prefix="old"), old)
    dispatch(engine, old, failed={f"old{n}.": "910" for n in range(1, 8)})
    kill_relays(engine, old, "HTTP 400")
    accept(engine, texts(2, prefix="late"), old)
    # Two answers that came late: CleverTap is still to hear them, so purge spares both.
    dispatch(engine, now, failed={"late1.": "910", "late2.": "910"})

    dry = run("purge", "--older-than", "150d", "--dry-run")
    done = run("purge", "--older-than", "150d")

    assert dry.exit_code == 0, dry.output
    assert dry.output.startswith("7 message(s) created before ")
    assert done.exit_code == 0, done.output
    assert done.output.startswith("deleted 7 message(s)")
    assert run("purge", "--older-than", "150d", "--dry-run").output.startswith("0 message(s)")


@pytest.mark.parametrize("command", [["stats"], ["messages", "list"]])
def test_a_sqlite_file_holding_someone_elses_tables_is_not_called_empty(
    make_config, tmp_path, command
):
    path = tmp_path / "mail.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE messages (subject TEXT, sender TEXT)")
    config = make_config(f"sqlite:///{path}")

    result = CliRunner().invoke(main, [*command, "--config", str(config.path)])

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: the database sqlite:///{path} holds tables smsgate did not create (messages) "
        "and no alembic_version: point gateway.database_url at an empty database or at "
        "smsgate's own\n"
    )


@pytest.mark.parametrize("command", [["stats"], ["messages", "list"]])
def test_a_file_that_is_not_a_database_is_one_line_naming_it(make_config, tmp_path, command):
    path = tmp_path / "notes.db"
    path.write_text("a shopping list, not a database\n")
    config = make_config(f"sqlite:///{path}")

    result = CliRunner().invoke(main, [*command, "--config", str(config.path)])

    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: cannot use the database: file is not a database (sqlite:///{path}); "
        f"check gateway.database_url in {config.path}\n"
    )
