"""``smsgate serve``: what it does with a broken plugin, a bad file and an old schema."""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import CALLBACK_TOKEN, TOKEN, ServerThread
from starlette.types import Message, Receive, Scope, Send

from smsgate.cli import main
from smsgate.cli.startup import StartupGuard
from smsgate.config import load_config
from smsgate.errors import SchemaOutdatedError
from smsgate.host.app import create_app
from smsgate.plugins import load_plugins
from smsgate.storage.database import upgrade

SMSGATE = Path(sys.executable).parent / "smsgate"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def provider(nickname: str, plugin: str, options: str = "") -> str:
    return textwrap.dedent(
        f"""
        [providers.{nickname}]
        plugin = "{plugin}"
        token = "{TOKEN}"
        callback_token = "{CALLBACK_TOKEN}"
        clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
        default_country = "IN"
        """
    ) + (f"[providers.{nickname}.options]\n{options}" if options else "")


PINGBIX = provider("pingbix-in", "pingbix", 'userid = "acme"\npassword = "pw"\nsenderid = "ACME"\n')


def write_config(folder: Path, database_url: str, providers: str) -> Path:
    path = folder / "smsgate.toml"
    # No dispatch workers: these tests are about start-up and intake, not about sending.
    path.write_text(
        f'[gateway]\ndatabase_url = "{database_url}"\n[gateway.dispatch]\nenabled = false\n'
        + providers
    )
    return path


#: Plugins broken in each way a plugin breaks: the source installed, and the reason given.
BROKEN_PLUGINS = {
    "import-error": (
        "import vendor_sdk_that_is_not_installed\n",
        "plugin 'broken' failed to import: ModuleNotFoundError: "
        "No module named 'vendor_sdk_that_is_not_installed'",
    ),
    "options-model-raises": (
        "from smsgate import hookimpl\n\n"
        "@hookimpl\ndef options_model():\n    raise RuntimeError('vendor SDK missing')\n",
        "plugin 'broken' raised RuntimeError in options_model",
    ),
    "misspelt-hook": (
        "from smsgate import hookimpl\n\n@hookimpl\ndef build_payloads(messages):\n    pass\n",
        "plugin 'broken' failed to register: unknown hook 'build_payloads'",
    ),
}


@pytest.mark.parametrize("kind", sorted(BROKEN_PLUGINS))
def test_broken_provider_answers_503_with_the_reason_and_the_others_keep_working(
    kind, tmp_path, database_url, caplog, install_plugin
):
    source, reason = BROKEN_PLUGINS[kind]
    install_plugin("broken", source)
    path = write_config(tmp_path, database_url, PINGBIX + provider("broken-one", "broken"))
    config = load_config(path, load_plugins(), {})
    assert list(config.broken) == ["broken-one"]

    with caplog.at_level("ERROR", logger="smsgate"), ServerThread(create_app(config)) as server:
        record = {"to": "9876543210", "body": "hello", "message_id": "m-1."}
        broken = httpx.post(f"{server.url}/clevertap/broken-one", json=record, headers=AUTH)
        working = httpx.post(f"{server.url}/clevertap/pingbix-in", json=record, headers=AUTH)
        broken_report = httpx.get(f"{server.url}/callbacks/broken-one/{CALLBACK_TOKEN}")
        working_report = httpx.get(
            f"{server.url}/callbacks/pingbix-in/{CALLBACK_TOKEN}",
            params={"Transactionid": "6509661746837016106", "Status": "DELIVRD"},
        )
        ready = httpx.get(f"{server.url}/readyz")

    assert broken.status_code == 503
    assert broken.json()["error"].startswith(f"provider 'broken-one' is unavailable: {reason}")
    assert broken_report.status_code == 503
    assert broken_report.json()["error"].startswith("provider 'broken-one' is unavailable:")
    assert working.status_code == 202
    assert working.json()["accepted"] == 1
    assert working_report.status_code == 200
    assert ready.status_code == 200
    assert ready.json()["providers"]["pingbix-in"] == "ok"
    assert reason in ready.json()["providers"]["broken-one"]
    # Loudly: the log names the nickname and the reason at start-up.
    assert f"provider 'broken-one' is unavailable: {reason}" in caplog.text


def test_serve_strict_refuses_to_start_with_a_broken_plugin(tmp_path, install_plugin):
    install_plugin("crashing", "raise RuntimeError('vendor SDK missing')\n")
    path = write_config(tmp_path, "sqlite:///gw.db", PINGBIX + provider("crashing-one", "crashing"))
    result = CliRunner().invoke(main, ["serve", "--strict", "--config", str(path)])
    assert result.exit_code == 1
    assert (
        "provider 'crashing-one' is unavailable: plugin 'crashing' failed to import: "
        "RuntimeError: vendor SDK missing"
    ) in result.stderr
    assert "error: refusing to start with broken providers (--strict)" in result.stderr
    assert not (tmp_path / "gw.db").exists()  # it stopped before touching anything


def test_serve_refuses_to_listen_beyond_this_machine_with_the_example_files_tokens(tmp_path):
    example = Path(__file__).parents[2] / "smsgate.example.toml"
    path = tmp_path / "smsgate.toml"
    path.write_text(example.read_text().replace("sqlite:///smsgate-demo.db", "sqlite:///gw.db"))

    result = CliRunner().invoke(main, ["serve", "--config", str(path), "--host", "0.0.0.0"])

    assert result.exit_code == 1
    assert "error: refusing to listen on 0.0.0.0 with the example file's published" in (
        result.stderr
    )
    assert "gateway.admin_token" in result.stderr
    assert "demo-admin-token-change-me" not in result.stderr
    assert not (tmp_path / "gw.db").exists()


def test_serve_refuses_a_bad_file_with_exit_2(tmp_path):
    path = tmp_path / "smsgate.toml"
    path.write_text("[gateway]\nworkers = 4\n")
    result = CliRunner().invoke(main, ["serve", "--config", str(path)])
    assert result.exit_code == 2
    assert f"{path}: invalid configuration" in result.stderr
    assert "  - gateway.workers: unknown key" in result.stderr


@pytest.mark.postgres
@pytest.mark.parametrize("empty_database_url", ["postgresql"], indirect=True)
def test_serve_on_an_empty_postgresql_schema_says_to_run_db_upgrade_and_exits_1(
    tmp_path, empty_database_url
):
    path = write_config(tmp_path, empty_database_url, PINGBIX)
    done = subprocess.run(
        [str(SMSGATE), "serve", "--config", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.rstrip().splitlines()[-1] == (
        "error: the database is empty, this smsgate needs revision "
        f"{_head()}: run `smsgate db upgrade` (with the same --config) and start again"
    )
    assert "Traceback" not in done.stderr


def test_serve_migrates_an_empty_sqlite_file_and_serves(tmp_path):
    path = write_config(tmp_path, "sqlite:///fresh.db", PINGBIX)
    config = load_config(path, load_plugins(), {})
    with ServerThread(create_app(config)) as server:
        ready = httpx.get(f"{server.url}/readyz")
    assert ready.status_code == 200
    assert (tmp_path / "fresh.db").exists()


def _head() -> str | None:
    from smsgate.storage.database import head_revision

    return head_revision()


# --- the start-up guard, at the ASGI level --------------------------------------------------


def _lifespan_app(error: BaseException) -> object:
    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        await receive()
        # What Starlette does: report the failure with the traceback, then re-raise.
        await send({"type": "lifespan.startup.failed", "message": "Traceback (most recent..."})
        raise error

    return app


async def _start(guard: StartupGuard, sent: list[Message]) -> None:
    async def receive() -> Message:
        return {"type": "lifespan.startup"}

    async def send(message: Message) -> None:
        sent.append(message)

    await guard({"type": "lifespan", "asgi": {"version": "3.0"}}, receive, send)


def test_expected_start_up_failure_is_kept_as_one_line_without_traceback():
    error = SchemaOutdatedError("the database is empty: run `smsgate db upgrade`")
    guard = StartupGuard(_lifespan_app(error))  # type: ignore[arg-type]
    sent: list[Message] = []
    asyncio.run(_start(guard, sent))
    assert sent == [{"type": "lifespan.startup.failed", "message": ""}]
    assert guard.failure == "the database is empty: run `smsgate db upgrade`"


def test_unexpected_start_up_failure_keeps_its_traceback():
    guard = StartupGuard(_lifespan_app(RuntimeError("a bug")))  # type: ignore[arg-type]
    sent: list[Message] = []
    with pytest.raises(RuntimeError, match="a bug"):
        asyncio.run(_start(guard, sent))
    assert sent == [{"type": "lifespan.startup.failed", "message": "Traceback (most recent..."}]
    assert guard.failure is None


def _not_a_database(folder: Path) -> str:
    (folder / "notes.db").write_text("a shopping list, not a database\n")
    return "file is not a database"


def _newer_revision(folder: Path) -> str:
    upgrade(f"sqlite:///{folder / 'notes.db'}")
    with sqlite3.connect(folder / "notes.db") as connection:
        connection.execute("UPDATE alembic_version SET version_num = '0099'")
    return "it was migrated by a newer smsgate; run that version"


def _someone_elses_tables(folder: Path) -> str:
    with sqlite3.connect(folder / "notes.db") as connection:
        connection.execute("CREATE TABLE messages (subject TEXT, sender TEXT)")
    return "holds tables smsgate did not create (messages) and no alembic_version"


@pytest.mark.parametrize(
    "make_file",
    [_not_a_database, _newer_revision, _someone_elses_tables],
    ids=["not-a-database", "newer-revision", "someone-elses-tables"],
)
def test_serve_on_a_sqlite_file_it_cannot_use_says_why_in_one_line_and_exits_1(tmp_path, make_file):
    reason = make_file(tmp_path)
    path = write_config(tmp_path, "sqlite:///notes.db", PINGBIX)
    done = subprocess.run(
        [str(SMSGATE), "serve", "--config", str(path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    last = done.stderr.rstrip().splitlines()[-1]
    assert last.startswith("error: ") and reason in last
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("port", ["99999", "-1"])
def test_serve_refuses_a_port_out_of_range_as_a_usage_error(tmp_path, port):
    path = write_config(tmp_path, "sqlite:///gw.db", PINGBIX)
    result = CliRunner().invoke(main, ["serve", "--config", str(path), "--port", port])
    assert result.exit_code == 2
    assert "Invalid value for '--port'" in result.stderr
    assert "0<=x<=65535" in result.stderr
    assert not (tmp_path / "gw.db").exists()
