"""Real processes for the dispatcher's end-to-end tests: ``smsgate serve`` and the sandbox.

The vendor is the Pingbix plugin's sandbox (``smsgate sandbox pingbix``), which logs every
send it receives (``GET /sandbox/requests``) and takes scripted faults
(``POST /sandbox/faults``); the gateway sends to it with the installed Pingbix plugin.
"""

from __future__ import annotations

import textwrap
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
from child_processes import Process, spawn, wait_ready
from conftest import CALLBACK_TOKEN, TOKEN, free_port

USERID = "acme"
PASSWORD = "sandbox-password-1"
NICKNAME = "pingbix-in"


@contextmanager
def sandbox(tmp_path: Path) -> Iterator[Process]:
    """The Pingbix sandbox in its own process, accepting our test account."""
    port = free_port()
    process = spawn(
        [
            "sandbox",
            "pingbix",
            "--port",
            str(port),
            "--option",
            f"userid={USERID}",
            "--option",
            f"password={PASSWORD}",
        ],
        tmp_path / "sandbox.log",
        "/sandbox/requests",
        port,
    )
    try:
        wait_ready(process)
        yield process
    finally:
        process.stop()


def serve(config: Path, log: Path, *, wait: bool = True) -> Process:
    """``smsgate serve`` on a free port with ``config``; started only, unless ``wait``."""
    port = free_port()
    process = spawn(["serve", "--config", str(config), "--port", str(port)], log, "/healthz", port)
    return wait_ready(process) if wait else process


def write_gateway_config(
    path: Path,
    database_url: str,
    vendor_url: str,
    dispatch: dict[str, Any],
    options: dict[str, Any] | None = None,
) -> Path:
    """A config with one Pingbix nickname on the sandbox, ``[gateway.dispatch]`` keys and
    more Pingbix ``options``."""
    table = "".join(f"{key} = {value!r}\n" for key, value in dispatch.items())
    more = "".join(f"{key} = {value!r}\n" for key, value in (options or {}).items())
    path.write_text(
        textwrap.dedent(
            f"""\
            [gateway]
            database_url = "{database_url}"
            public_url = "http://127.0.0.1:8000"

            [gateway.dispatch]
            """
        )
        + table
        + textwrap.dedent(
            f"""
            [providers.{NICKNAME}]
            plugin = "pingbix"
            token = "{TOKEN}"
            callback_token = "{CALLBACK_TOKEN}"
            clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
            default_country = "IN"

            [providers.{NICKNAME}.options]
            base_url = "{vendor_url}"
            userid = "{USERID}"
            password = "{PASSWORD}"
            senderid = "ACMEIN"
            """
        )
        + more
    )
    return path


def post_messages(gateway_url: str, records: Sequence[dict[str, str]]) -> None:
    """Hand ``records`` to the gateway as CleverTap does, 1000 per request."""
    for start_at in range(0, len(records), 1000):
        response = httpx.post(
            f"{gateway_url}/clevertap/{NICKNAME}",
            json={"messages": list(records[start_at : start_at + 1000])},
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=30,
        )
        assert response.status_code == 202, response.text
        assert response.json()["accepted"] == len(records[start_at : start_at + 1000])


def records(count: int) -> list[dict[str, str]]:
    """``count`` records, each with a text of its own so the vendor's log tells them apart."""
    return [
        {"to": f"98{i:08d}", "body": f"Test message number {i}", "message_id": f"ct-{i}"}
        for i in range(count)
    ]


def vendor_log(vendor: Process) -> list[dict[str, Any]]:
    """Every send the sandbox received."""
    answer = httpx.get(vendor.url + "/sandbox/requests", timeout=30)
    requests: list[dict[str, Any]] = answer.json()["requests"]
    return requests


def sends_per_text(vendor: Process) -> Counter[str]:
    """How many times each text reached the vendor.

    A request cut off by a SIGKILL arrives without its text; it carried no message.
    """
    return Counter(request["msg"] for request in vendor_log(vendor) if request["msg"])


def add_fault(vendor: Process, **fault: Any) -> None:
    """Script a fault on the sandbox's next sends."""
    response = httpx.post(vendor.url + "/sandbox/faults", json=fault, timeout=5)
    assert response.status_code == 200, response.text
