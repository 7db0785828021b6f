"""``smsgate sandbox NAME``: a plugin's fake vendor, served as an operator or a demo runs it."""

from __future__ import annotations

import queue
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner
from conftest import ServerThread, free_port
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from smsgate.cli import main
from smsgate.cli.sandbox import parse_outcomes

SMSGATE = Path(sys.executable).parent / "smsgate"


def _wait_until_serving(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the sandbox exited: {process.communicate()[1]}")
        try:
            httpx.get(f"{url}/sandbox/requests", timeout=1.0)
        except httpx.TransportError:
            time.sleep(0.05)  # readiness polling, not timing: the process is starting
        else:
            return
    raise AssertionError("the sandbox did not start within 30 s")


def test_sandbox_pingbix_serves_the_api_and_pushes_reports_to_the_dlr_url() -> None:
    reports: queue.Queue[dict[str, str]] = queue.Queue()

    async def dlr(request: Request) -> PlainTextResponse:
        reports.put(dict(request.query_params))
        return PlainTextResponse("ok")

    with ServerThread(Starlette(routes=[Route("/dlr", dlr)])) as receiver:
        port = free_port()
        process = subprocess.Popen(
            [str(SMSGATE), "sandbox", "pingbix", "--port", str(port), "--dlr-url",
             f"{receiver.url}/dlr", "--delay", "0", "--seed", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        try:
            url = f"http://127.0.0.1:{port}"
            _wait_until_serving(url, process)
            fields = {
                "userid": "demo",
                "password": "demo-password",
                "sendMethod": "quick",
                "mobile": "919876543210",
                "msg": "hello",
                "senderid": "ACMEIN",
                "output": "json",
            }
            answer = httpx.post(f"{url}/SMSApi/send", data=fields).json()
            report = reports.get(timeout=10)
        finally:
            process.terminate()
            process.communicate(timeout=10)

    assert answer["status"] == "success"
    assert report["Transactionid"] == answer["transactionId"]
    assert report["ErrorCode"] == "000"


def test_an_unknown_plugin_is_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["sandbox", "nosuchvendor"])

    assert result.exit_code == 2
    assert "no plugin 'nosuchvendor' is installed" in result.stderr
    assert "pingbix" in result.stderr


def test_a_plugin_without_a_sandbox_says_so(install_plugin) -> None:
    install_plugin("nosandbox", "from smsgate import hookimpl\n")
    result = CliRunner().invoke(main, ["sandbox", "nosandbox"])

    assert result.exit_code == 1
    assert "ships no sandbox" in result.stderr


def test_the_plugin_explains_an_outcome_it_does_not_know_as_a_usage_error() -> None:
    result = CliRunner().invoke(main, ["sandbox", "pingbix", "--outcomes", "lost=1"])

    assert result.exit_code == 2
    assert result.stderr.startswith("error: pingbix sandbox: unknown outcome(s) lost")
    assert "raised" not in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["--delivered-ratio", "0.5", "--outcomes", "delivered=1"],
        ["--outcomes", "delivered"],
        ["--outcomes", "delivered=-1"],
        ["--delivered-ratio", "1.5"],
        ["--option", "novalue"],
    ],
)
def test_bad_arguments_are_usage_errors(arguments: list[str]) -> None:
    result = CliRunner().invoke(main, ["sandbox", "pingbix", *arguments])

    assert result.exit_code == 2


def test_outcomes_are_read_as_name_weight_pairs() -> None:
    assert parse_outcomes("delivered=0.7, failed=0.2,none=0.1") == {
        "delivered": 0.7,
        "failed": 0.2,
        "none": 0.1,
    }
