"""Body size limits of the send endpoint: a big body is refused without being read."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa
from conftest import TOKEN, ConfigFactory, ServerThread

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
