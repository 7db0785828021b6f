"""From CleverTap's send to CleverTap's callback, over real HTTP, through a crash and an outage.

Three processes of ours: ``smsgate serve``, ``smsgate sandbox pingbix`` (which answers sends
and pushes delivery reports, by GET, to the gateway's callback URL), and a fake CleverTap in
this process that records what it accepts and can answer 503. A batch whose vendor answers
late (so its reports arrive before the send results are stored), a batch relayed while
CleverTap is down, a SIGKILL of the gateway between storing those reports and relaying them,
and a restart: CleverTap must end with exactly one correct record per message.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa
from conftest import CALLBACK_TOKEN, TOKEN, ServerThread, free_port
from ct_recorder import CleverTapRecorder
from delivery_helpers import EVENTS
from fault_invariants import Sent, assert_invariants, observe
from message_builders import NICK, OUTBOX

SMSGATE = Path(sys.executable).parent / "smsgate"
IST = ZoneInfo("Asia/Kolkata")
#: CleverTap code of each failing status the sandbox sends (clevertap.md 3.3); a report
#: without a status carries only an ErrorCode, which no table maps: 900.
CODES = {"UNDELIV": "914", "EXPIRED": "916", "REJECTD": "900", "DND": "901"}


@dataclass
class Process:
    """A running command of ours and where it listens."""

    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, as a crash."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()


def start(args: list[str], url: str, ready: str, log: Path) -> Process:
    with log.open("ab") as out:
        process = subprocess.Popen(
            [str(SMSGATE), *args], stdout=out, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
    running = Process(url, process, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"{args[0]} exited early:\n{log.read_text()}")
        try:
            if httpx.get(url + ready, timeout=1).status_code < 500:
                return running
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    running.stop()
    raise AssertionError(f"{args[0]} did not start:\n{log.read_text()}")


@contextmanager
def running(process: Process) -> Iterator[Process]:
    try:
        yield process
    finally:
        process.stop()


def wait_for(condition: Callable[[], bool], what: str, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def write_config(path: Path, database_url: str, sandbox_url: str, clevertap_url: str) -> Path:
    path.write_text(
        f"""\
[gateway]
database_url = "{database_url}"

[gateway.dispatch]
poll_interval = 0.1

[gateway.delivery]
relay_first_delay = 0.5
relay_backoff_cap = 1.0
relay_poll_interval = 0.2
relay_timeout = 2.0
relay_lease = 3.0
sweep_interval = 0.5

[providers.{NICK}]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "{clevertap_url}"
default_country = "IN"

[providers.{NICK}.options]
base_url = "{sandbox_url}"
userid = "demo"
password = "demo-password"
senderid = "ACMEIN"
"""
    )
    return path


def send_batch(gateway: Process, prefix: str, numbers: range) -> dict[str, str]:
    """Send one text per number; message id -> the number as the vendor sees it."""
    records = [
        {"to": f"98450{n:05d}", "body": f"hello {n}", "message_id": f"{prefix}.{n}.wzrk_default."}
        for n in numbers
    ]
    answer = httpx.post(
        f"{gateway.url}/clevertap/{NICK}",
        json={"messages": records},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert answer.status_code == 202, answer.text
    return {record["message_id"]: f"91{record['to']}" for record in records}


def expected_records(sandbox: Process, sent: dict[str, str]) -> dict[str, tuple[str, dict]]:
    """What CleverTap must hold for each message, from what the sandbox did."""
    requests = httpx.get(f"{sandbox.url}/sandbox/requests").json()["requests"]
    dlrs = httpx.get(f"{sandbox.url}/sandbox/dlrs").json()["dlrs"]
    by_transaction = {dlr["params"]["Transactionid"]: dlr["params"] for dlr in dlrs}
    transaction_of = {r["mobile"]: r["transactionId"] for r in requests if r["accepted"]}
    expected = {}
    for message_id, mobile in sent.items():
        params = by_transaction[transaction_of[mobile]]
        at = datetime.strptime(params["DeliveredTime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=IST)
        record: dict[str, Any] = {"ts": int(at.timestamp()), "meta": message_id}
        if params["ErrorCode"] == "000":
            expected[message_id] = ("delivered", record)
        else:
            record["code"] = CODES[params["Status"]] if "Status" in params else "900"
            expected[message_id] = ("failed", record)
    return expected


def pending(engine: sa.Engine) -> int:
    """Relay rows not yet accepted by CleverTap."""
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.state == "pending")
            ).scalar_one()
        )


def reports_pushed(sandbox: Process) -> int:
    return sum(d["delivered"] for d in httpx.get(f"{sandbox.url}/sandbox/dlrs").json()["dlrs"])


@pytest.mark.slow
@pytest.mark.faults
def test_every_report_reaches_clevertap_exactly_once_through_early_reports_outage_and_crash(
    database_url: str, engine: sa.Engine, tmp_path: Path
) -> None:
    clevertap = CleverTapRecorder()
    port, sandbox_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    dlr_url = f"{gateway_url}/callbacks/{NICK}/{CALLBACK_TOKEN}"
    with ServerThread(clevertap.app()) as fake_clevertap:
        sandbox_args = [
            "sandbox", "pingbix", "--port", str(sandbox_port), "--dlr-url", dlr_url,
            "--outcomes", "delivered=1,failed=1", "--delay", "0.2", "--seed", "20261125",
            "--option", "dlr_retries=8", "--option", "dlr_retry_delay=0.3",
        ]  # fmt: skip
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        config = write_config(
            tmp_path / "smsgate.toml",
            database_url,
            sandbox_url,
            f"{fake_clevertap.url}/sms/generic?account=TEST-ACC-0001",
        )
        serve_args = ["serve", "--config", str(config), "--port", str(port)]
        with running(
            start(sandbox_args, sandbox_url, "/sandbox/dlrs", tmp_path / "sandbox.log")
        ) as sandbox:
            gateway = start(serve_args, gateway_url, "/readyz", tmp_path / "serve-1.log")
            try:
                # 1. Pingbix takes the messages at once but answers late: every report
                #    arrives before the send results are stored, and waits in the inbox.
                httpx.post(f"{sandbox.url}/sandbox/faults", json={"delay": 1.5, "count": 2})
                first = send_batch(gateway, "early", range(8))
                wait_for(lambda: len(clevertap.records()) >= len(first), "the first batch")

                # 2. CleverTap is down while the next batch's reports come in; the gateway
                #    stores them, fails to relay them, and is killed before CleverTap is back.
                clevertap.down = True
                second = send_batch(gateway, "outage", range(8, 14))
                total = len(first) + len(second)
                wait_for(lambda: reports_pushed(sandbox) >= total, "every report pushed")
                wait_for(lambda: clevertap.refused >= 1, "a relay refused by CleverTap")
                assert pending(engine) == len(second), "stored, not relayed, at the kill"
            finally:
                gateway.kill()

            clevertap.down = False
            with running(start(serve_args, gateway_url, "/readyz", tmp_path / "serve-2.log")):
                wait_for(lambda: len(clevertap.records()) >= total, "every record relayed")
                # Anything sent twice would arrive within a few relay polls.
                time.sleep(1.5)

            expected = expected_records(sandbox, {**first, **second})
            seen = observe(engine, sandbox.url, [{"event": e, **r} for e, r in clevertap.records()])

    assert_invariants(seen, Sent(answered={*first, *second}))

    received = clevertap.records()
    metas = [record["meta"] for _, record in received]
    assert sorted(metas) == sorted(expected), "each message once, none twice"
    for event, record in received:
        want_event, want = expected[record["meta"]]
        assert event == want_event
        assert {key: record[key] for key in want} == want
        assert record["description"]
        assert len(str(record["ts"])) == 10
    assert {e for e, _ in received} == {"delivered", "failed"}

    with engine.connect() as connection:
        payloads = connection.execute(
            sa.select(EVENTS.c.payload).where(EVENTS.c.kind.in_(["delivered", "failed"]))
        ).scalars()
        waited = sum(1 for payload in payloads if payload.get("waited"))
    assert waited >= 2, "reports that beat their send result waited and were matched"
