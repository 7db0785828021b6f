"""Body size limits of the send and callback endpoints: a big body is refused without being
read, and the server's memory shows it."""

from __future__ import annotations

import contextlib
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import CALLBACK_TOKEN, PINGBIX_PROVIDER, TOKEN, ConfigFactory, ServerThread, free_port

from smsgate.host.app import create_app
from smsgate.storage.models import Message

MESSAGES = Message.__table__  # type: ignore[attr-defined]
# Dispatch workers would move stored rows on; these tests look at the rows as accepted.
NO_DISPATCH = "[gateway.dispatch]\nenabled = false\n"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
MB = 1024 * 1024


@pytest.fixture
def gateway(make_config: ConfigFactory, database_url: str) -> Iterator[ServerThread]:
    """The test gateway with its default limit of 8 MiB, without dispatch workers."""
    config = make_config(database_url, extra=NO_DISPATCH)
    with ServerThread(create_app(config)) as server:
        yield server


def count(engine: sa.Engine) -> int:
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(MESSAGES)).scalar_one()


def _raw_request(url: str, head: str, body: bytes = b"") -> bytes:
    """Send a request head and part of a body over a socket; what the server answers."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + body)
        answer = b""
        while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            answer += chunk
    return answer


def test_declared_50_mb_body_is_refused_before_any_of_it_is_sent(gateway, engine):
    head = f"""POST /clevertap/pingbix-in HTTP/1.1
Host: test
Authorization: Bearer {TOKEN}
Content-Type: application/json
Content-Length: {50 * MB}
"""
    # The body never comes: the answer must not wait for it.
    answer = _raw_request(gateway.url, head)

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"larger than 8388608 bytes" in answer
    assert count(engine) == 0


def test_chunked_body_is_refused_as_soon_as_it_passes_the_limit(
    make_config: ConfigFactory, database_url: str
):
    config = make_config(database_url, extra=NO_DISPATCH, max_body_bytes=65536)
    chunk = b" " * 32768
    chunked = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(3))
    head = f"""POST /clevertap/pingbix-in HTTP/1.1
Host: test
Authorization: Bearer {TOKEN}
Content-Type: application/json
Transfer-Encoding: chunked
"""
    with ServerThread(create_app(config)) as server:
        # 96 KiB of a body that never ends: the answer comes anyway.
        answer = _raw_request(server.url, head, chunked)

    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"larger than 65536 bytes" in answer


@pytest.mark.parametrize("limit", [65536, None], ids=["small-limit", "default-8MB"])
def test_50_mb_body_is_answered_413(
    make_config: ConfigFactory, database_url: str, engine: sa.Engine, limit: int | None
):
    gateway = {} if limit is None else {"max_body_bytes": limit}
    config = make_config(database_url, extra=NO_DISPATCH, **gateway)

    def stream():
        # No Content-Length: the gateway has to count what it reads.
        for _ in range(50 * 16):
            yield b" " * 65536

    with ServerThread(create_app(config)) as server:
        url = f"{server.url}/clevertap/pingbix-in"
        with httpx.Client(timeout=60) as http:
            streamed = http.post(url, content=stream(), headers={**AUTH, **JSON})
            declared = http.post(url, content=b" " * (50 * MB), headers={**AUTH, **JSON})

    for answer in (streamed, declared):
        assert answer.status_code == 413
        assert "larger than" in answer.json()["error"]
    assert count(engine) == 0


def test_wrong_token_is_refused_before_the_body_is_read(gateway, engine):
    head = f"""POST /clevertap/pingbix-in HTTP/1.1
Host: test
Authorization: Bearer wrong
Content-Type: application/json
Content-Length: {50 * MB}
"""
    answer = _raw_request(gateway.url, head)

    assert answer.startswith(b"HTTP/1.1 401 ")
    assert count(engine) == 0


def test_unsupported_content_type_is_refused_before_the_body_is_read(gateway):
    head = f"""POST /clevertap/pingbix-in HTTP/1.1
Host: test
Authorization: Bearer {TOKEN}
Content-Type: text/csv
Content-Length: {50 * MB}
"""
    answer = _raw_request(gateway.url, head)

    assert answer.startswith(b"HTTP/1.1 415 ")


def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_not(
    make_config: ConfigFactory, database_url: str, engine: sa.Engine
):
    config = make_config(database_url, extra=NO_DISPATCH, max_body_bytes=200)
    record = b'{"to": "+919876543210", "body": "hi", "message_id": "edge."}'
    body = record + b" " * (200 - len(record))
    with ServerThread(create_app(config)) as server, httpx.Client() as http:
        url = f"{server.url}/clevertap/pingbix-in"
        over = http.post(url, content=body + b" ", headers={**AUTH, **JSON})
        exact = http.post(url, content=body, headers={**AUTH, **JSON})

    assert over.status_code == 413
    assert exact.status_code == 202
    assert count(engine) == 1


SMSGATE = Path(sys.executable).parent / "smsgate"


def peak_rss(pid: int) -> int:
    """The process's peak resident set size so far (VmHWM), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for process {pid}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[tuple[str, int]]:
    """``smsgate serve`` in its own process, on SQLite: its URL and its pid."""
    with serving(tmp_path) as running:
        yield running


@contextlib.contextmanager
def serving(tmp_path: Path, gateway: str = "") -> Iterator[tuple[str, int]]:
    """``smsgate serve`` with ``gateway`` lines added to its ``[gateway]`` table."""
    config = tmp_path / "smsgate.toml"
    config.write_text(
        f"""
[gateway]
database_url = "sqlite:///{tmp_path / "smsgate.db"}"
{gateway}
[gateway.dispatch]
enabled = false
[gateway.delivery]
enabled = false
"""
        + PINGBIX_PROVIDER
    )
    port = free_port()
    process = subprocess.Popen(
        [str(SMSGATE), "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.1)
        yield url, process.pid
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=30)


def test_50_mb_bodies_leave_the_servers_memory_where_it_was(serve):
    url, pid = serve
    paths = ["/clevertap/pingbix-in", f"/callbacks/pingbix-in/{CALLBACK_TOKEN}"]
    record = {"to": "+919876543210", "body": "warm", "message_id": "warm."}
    with httpx.Client(timeout=60) as http:
        # Everything a request touches is imported and allocated before the baseline.
        for _ in range(3):
            http.post(url + paths[0], json=record, headers=AUTH)
            http.get(url + paths[1], params={"Transactionid": "tx-1"})
            http.post(url + paths[0], content=b" " * (64 * 1024), headers={**AUTH, **JSON})
        before = peak_rss(pid)

        for path in paths:
            head = f"POST {path} HTTP/1.1\nHost: test\nAuthorization: Bearer {TOKEN}\n"
            head += f"Content-Type: application/json\nContent-Length: {50 * MB}\n"
            # The head promises 50 MB, and 1 MB of it comes: the answer must not wait for more.
            assert _raw_request(url, head, b" " * MB).startswith(b"HTTP/1.1 413 ")
        declared = peak_rss(pid)

        def stream():
            for _ in range(50 * 16):
                yield b" " * 65536

        for path in paths:
            answer = http.post(url + path, content=stream(), headers={**AUTH, **JSON})
            assert answer.status_code == 413
        streamed = peak_rss(pid)

    # A declared 50 MB is refused unread; a streamed one is read up to the 8 MiB limit only.
    assert declared - before < 6 * MB, (before, declared)
    assert streamed - before < 24 * MB, (before, streamed)


def _until_closed(sock: socket.socket) -> bytes:
    """Everything the server sends until it closes the connection (a timeout fails)."""
    answer = b""
    while chunk := sock.recv(65536):
        answer += chunk
    return answer


def test_bodies_trickling_past_body_timeout_get_408_and_free_their_slots(tmp_path):
    head = f"""POST /clevertap/pingbix-in HTTP/1.1
Host: test
Authorization: Bearer {TOKEN}
Content-Type: application/json
Content-Length: 100
"""
    with serving(tmp_path, "body_timeout = 2\nmax_connections = 3") as (url, _):
        host, port = url.removeprefix("http://").split(":")
        slow = []
        started = time.monotonic()
        try:
            for _ in range(3):
                slow.append(socket.create_connection((host, int(port)), timeout=10))
                slow[-1].sendall(head.replace("\n", "\r\n").encode() + b"\r\n" + b'{"mess')
                time.sleep(0.2)
            # Every slot is held by a body that is not coming: no more work is taken on.
            crowded = httpx.get(f"{url}/healthz")
            answers = [_until_closed(sock) for sock in slow]
            # Closed with the answer, not when an idle timer fires (5 s after it).
            closed_after = time.monotonic() - started
        finally:
            for sock in slow:
                sock.close()
        freed = httpx.get(f"{url}/healthz")

    assert crowded.status_code == 503
    assert all(answer.startswith(b"HTTP/1.1 408 ") for answer in answers), answers
    assert b"did not arrive within 2 s" in answers[0]
    assert freed.status_code == 200
    assert closed_after < 4
