"""The log: request ids, text or JSON lines, and no secret in any line, page or answer."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from conftest import CALLBACK_TOKEN, TOKEN, ServerThread, free_port
from operations_helpers import ADMIN_TOKEN, csrf_of, dashboard_client

from smsgate.host.app import create_app
from smsgate.host.logs import configure_logging
from smsgate.plugins import load_plugins
from smsgate.types import SandboxSettings

PASSWORD = "pingbix-secret-pw-42"
SECRETS = (TOKEN, CALLBACK_TOKEN, ADMIN_TOKEN, PASSWORD)
JSON = {"content-type": "application/json"}
SMSGATE = Path(sys.executable).parent / "smsgate"


@pytest.fixture
def log_lines():
    """Our handler on the root logger, writing to a buffer; logging restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    named = {
        name: (list(logging.getLogger(name).handlers), logging.getLogger(name).propagate)
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access")
    }
    stream = io.StringIO()

    def start(log_format="text"):
        configure_logging(log_format, stream=stream)
        return stream

    yield start
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, propagate) in named.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def test_a_request_id_is_echoed_and_on_every_line_of_the_request(
    make_config, database_url, log_lines
):
    server = ServerThread(create_app(make_config(database_url)))
    stream = log_lines("json")
    with server:
        mine = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "trace-42.a"})
        made = httpx.get(f"{server.url}/readyz")
        odd = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "no spaces <allowed>"})

    assert mine.headers["x-request-id"] == "trace-42.a"
    assert len(made.headers["x-request-id"]) == 32
    assert odd.headers["x-request-id"] != "no spaces <allowed>"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    access = [line for line in lines if line["logger"] == "smsgate.access"]
    assert {line["request_id"] for line in access} >= {"trace-42.a", made.headers["x-request-id"]}
    first = next(line for line in access if line["request_id"] == "trace-42.a")
    assert (first["method"], first["path"], first["status"]) == ("GET", "/healthz", 200)
    assert first["level"] == "info" and first["ts"].endswith("+00:00")


def test_text_lines_carry_the_request_id_too(make_config, database_url, log_lines):
    server = ServerThread(create_app(make_config(database_url)))
    stream = log_lines("text")
    with server:
        httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "abc123"})
    assert any(
        "INFO smsgate.access [abc123] GET /healthz 200" in line
        for line in stream.getvalue().splitlines()
    )


def test_a_path_cannot_forge_a_line_of_the_text_log(make_config, database_url, log_lines):
    forged = "2026-11-26 03:50:00,000 INFO smsgate.access [deadbeef] POST /api/messages/1/cancel"
    server = ServerThread(create_app(make_config(database_url)))
    stream = log_lines("text")
    with server:
        httpx.get(f"{server.url}/a%0A{forged.replace(' ', '%20')}")

    lines = stream.getvalue().splitlines()
    assert not [line for line in lines if line.startswith(forged)]
    assert any(f"GET /a\\n{forged} 404" in line for line in lines)


def test_the_access_line_masks_secrets_in_what_a_client_chose(make_config, database_url, log_lines):
    server = ServerThread(create_app(make_config(database_url)))
    stream = log_lines("json")
    with server:
        httpx.get(f"{server.url}/callbacks/pingbix-in/{CALLBACK_TOKEN}?Transactionid=1")
        httpx.get(f"{server.url}/nowhere/{TOKEN}/Bearer%20abcdef123456")

    access = [
        json.loads(line) for line in stream.getvalue().splitlines() if '"smsgate.access"' in line
    ]
    assert len(access) == 2
    assert not [line for line in access for secret in SECRETS if secret in json.dumps(line)]
    callback, nowhere = access
    assert callback["path"] == "/callbacks/pingbix-in/****"
    assert callback["message"].startswith("GET /callbacks/pingbix-in/**** 200")
    assert nowhere["path"] == "/nowhere/****/Bearer ****"


def _config_text(database_url: str, vendor_url: str, log_format: str) -> str:
    return f"""
[gateway]
database_url = "{database_url}"
admin_token = "{ADMIN_TOKEN}"
log_format = "{log_format}"

[gateway.dispatch]
poll_interval = 0.05

[gateway.delivery]
relay_poll_interval = 0.05

[providers.pingbix-in]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
default_country = "IN"

[providers.pingbix-in.options]
base_url = "{vendor_url}"
userid = "demo"
password = "{PASSWORD}"
senderid = "ACMEIN"
"""


def _traffic(base: str) -> list[str]:
    """Everything a client, a vendor and an operator might send; the bodies that came back."""
    bodies = []
    auth = {"Authorization": f"Bearer {TOKEN}"}
    batch = {"messages": [{"to": "9876543210", "body": f"pw {PASSWORD}?", "message_id": "s1."}]}
    bodies.append(httpx.post(f"{base}/clevertap/pingbix-in", json=batch, headers=auth).text)
    bodies.append(
        httpx.post(
            f"{base}/clevertap/pingbix-in",
            json=batch,
            headers={"Authorization": "Bearer nope-nope-nope"},
        ).text
    )
    bodies.append(httpx.get(f"{base}/clevertap/pingbix-in?to=1&body=x&token={TOKEN}").text)
    for token in (CALLBACK_TOKEN, "not-the-token"):
        url = f"{base}/callbacks/pingbix-in/{token}?Transactionid=1&password={PASSWORD}"
        bodies.append(httpx.get(url).text)
    # Vendors: reports carrying secrets in their fields, broken ones echoing them, a
    # secret as the token in the URL.
    report = {"Transactionid": "1", "Status": "UNDELIV", "Cause": f"pw {PASSWORD} {TOKEN}"}
    callback = f"{base}/callbacks/pingbix-in/{CALLBACK_TOKEN}"
    bodies.append(httpx.post(callback, json=report).text)
    bodies.append(httpx.post(callback, json={"Status": PASSWORD}).text)
    bodies.append(httpx.post(callback, content=f"{{{PASSWORD}".encode()).text)
    bodies.append(httpx.post(callback, content=f"{PASSWORD}=\xff".encode()).text)
    bodies.append(httpx.get(f"{base}/callbacks/pingbix-in/{ADMIN_TOKEN}").text)
    bodies.append(httpx.get(f"{base}/callbacks/{TOKEN}/{CALLBACK_TOKEN}").text)
    # CleverTap: a secret where a nickname, a key or a value goes.
    bodies.append(httpx.post(f"{base}/clevertap/{TOKEN}", json=batch, headers=auth).text)
    odd = {"to": PASSWORD, "body": "x", "message_id": "s2.", ADMIN_TOKEN: ["\ud800"]}
    sent = json.dumps(odd).encode()  # ensure_ascii: the surrogate travels as \ud800
    bodies.append(
        httpx.post(f"{base}/clevertap/pingbix-in", content=sent, headers={**auth, **JSON}).text
    )
    bodies.append(httpx.get(f"{base}/healthz", headers={"X-Request-ID": ADMIN_TOKEN}).text)
    wrong = httpx.post(f"{base}/dashboard/login", data={"token": TOKEN})
    bodies.append(wrong.text)
    client = dashboard_client(base)
    try:
        for path in (
            "/dashboard/",
            "/dashboard/messages",
            "/dashboard/messages?number=9876543210",
            "/dashboard/relays",
            "/dashboard/unknown",
            "/dashboard/messages/1",
            f"/dashboard/messages?since={ADMIN_TOKEN}",
            f"/dashboard/messages?status={PASSWORD}",
            f"/dashboard/messages/{TOKEN}",
            f"/dashboard/relays?state={CALLBACK_TOKEN}",
        ):
            bodies.append(client.get(path).text)
        page = client.get("/dashboard/messages/1").text
        form = {"csrf": csrf_of(page)}
        bodies.append(client.post("/dashboard/messages/1/cancel", data=form).text)
    finally:
        client.close()
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    for path in (
        "/api/messages",
        "/api/messages/1",
        "/api/stats",
        "/api/relays",
        "/api/openapi.json",
        "/metrics",
    ):
        bodies.append(httpx.get(f"{base}{path}", headers=admin).text)
    # The admin API: other secrets as the token, and secrets as parameters it refuses.
    for other in (TOKEN, CALLBACK_TOKEN, PASSWORD):
        refused = httpx.get(f"{base}/api/stats", headers={"Authorization": f"Bearer {other}"})
        bodies.append(refused.text)
    for path in (
        f"/api/messages?since={ADMIN_TOKEN}",
        f"/api/messages?status={PASSWORD}",
        f"/api/messages?cursor={TOKEN}",
        f"/api/relays?state={CALLBACK_TOKEN}",
        f"/api/messages/{ADMIN_TOKEN}",
        f"/api/relays/{TOKEN}/retry",
    ):
        bodies.append(
            httpx.request(
                "POST" if path.endswith("retry") else "GET", base + path, headers=admin
            ).text
        )
    bodies.append(
        httpx.post(
            f"{base}/api/messages/1/cancel", json={"description": PASSWORD}, headers=admin
        ).text
    )
    return bodies


@pytest.fixture
def vendor():
    """The Pingbix sandbox, taking only our password."""
    app = (
        load_plugins()
        .get("pingbix")
        .sandbox_app(SandboxSettings(delay=0.05, options={"password": PASSWORD}, seed=1))
    )
    with ServerThread(app) as running:
        yield running


def test_no_secret_reaches_a_log_line_a_page_or_an_answer(
    tmp_path, database_url, vendor, caplog, log_lines
):
    config_path = tmp_path / "smsgate.toml"
    config_path.write_text(_config_text(database_url, vendor.url, "json"))
    from smsgate.config import load_config

    app = create_app(load_config(config_path, load_plugins()))
    server = ServerThread(app)
    stream = log_lines("json")
    with caplog.at_level(logging.DEBUG), server:
        bodies = _traffic(server.url)
        # A careless plugin logging its options, and a vendor URL with the password in it:
        logging.getLogger("smsgate_pingbix").warning("options: password=%s", PASSWORD)
        httpx.get(
            f"{vendor.url}/SMSApi/report/status", params={"userid": "demo", "password": PASSWORD}
        )
        time.sleep(0.3)  # let the dispatcher and the relay write their lines too

    everything = "\n".join([caplog.text, stream.getvalue(), *bodies])
    assert "HTTP Request: GET" in caplog.text and "options: password=****" in caplog.text
    for secret in SECRETS:
        assert secret not in everything, secret


def test_no_secret_reaches_the_stderr_of_smsgate_serve(tmp_path, database_url, vendor):
    config_path = tmp_path / "smsgate.toml"
    config_path.write_text(_config_text(database_url, vendor.url, "json"))
    port = free_port()
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    if database_url.startswith("postgresql"):
        subprocess.run(
            [str(SMSGATE), "db", "upgrade", "--config", str(config_path)],
            check=True,
            env=env,
            capture_output=True,
        )
    process = subprocess.Popen(
        [str(SMSGATE), "serve", "--config", str(config_path), "--port", str(port)],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        bodies = _traffic(base)
        time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)

    lines = err.splitlines()
    assert len(lines) > 10
    assert [line for line in lines if not line.startswith("{")] == []
    parsed = [json.loads(line) for line in lines]  # one JSON object per line, every line
    assert any(line.get("path") == "/callbacks/pingbix-in/****" for line in parsed)
    everything = "\n".join([err, out, *bodies])
    for secret in SECRETS:
        assert secret not in everything, secret
