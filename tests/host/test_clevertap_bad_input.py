"""Bad input to the send endpoint: the contract's status, an error that says what is wrong,
and nothing already stored changes. Never a 500."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import CALLBACK_TOKEN, TOKEN, ServerThread

from smsgate.config import load_config
from smsgate.host.app import create_app
from smsgate.plugins import PluginSet
from smsgate.storage.database import create_engine
from smsgate.storage.models import Message, MessageEvent

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NUMBER = "+91 98765 43210"
JSON = {"content-type": "application/json"}


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the module: a new one per request costs more than the request."""
    with httpx.Client(timeout=60) as client:
        yield client


PROVIDER = f"""
[gateway.dispatch]
enabled = false

[providers.pingbix-in]
plugin = "pingbix"
token = "{TOKEN}"
callback_token = "{CALLBACK_TOKEN}"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"
default_country = "IN"

[providers.pingbix-in.options]
userid = "acme"
password = "secret-password"
senderid = "ACMEIN"
"""


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def shared_database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> str:
    """One database for every case of this module, on each backend: no case may change it."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("bad-input") / "smsgate.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    url: str = request.getfixturevalue("postgres_database")
    engine = create_engine(url)
    with engine.begin() as connection:
        # Whatever earlier modules left behind, as the function-scoped fixture does.
        tables = [t for t in sa.inspect(connection).get_table_names() if t != "alembic_version"]
        connection.exec_driver_sql(
            "TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " RESTART IDENTITY CASCADE"
        )
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def gateway(
    shared_database: str, plugins: PluginSet, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    """One gateway for the module (a server per case would cost more than the cases).

    Without dispatch workers, so that rows stay as the endpoint stored them.
    """
    path = tmp_path_factory.mktemp("bad-input-config") / "smsgate.toml"
    path.write_text(f'[gateway]\ndatabase_url = "{shared_database}"\n{PROVIDER}')
    with ServerThread(create_app(load_config(path, plugins))) as server:
        yield server


@pytest.fixture(scope="module")
def engine(shared_database: str) -> Iterator[sa.Engine]:
    """An engine on the module's database."""
    engine = create_engine(shared_database)
    yield engine
    engine.dispose()


def snapshot(engine: sa.Engine) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Every row of both tables, in id order."""
    with engine.connect() as connection:
        messages = connection.execute(sa.select(MESSAGES).order_by(MESSAGES.c.id)).mappings()
        message_rows = [dict(row) for row in messages]
        event_rows = [
            dict(row)
            for row in connection.execute(sa.select(EVENTS).order_by(EVENTS.c.id)).mappings()
        ]
    return message_rows, event_rows


@pytest.fixture(scope="module")
def existing(
    http: httpx.Client, gateway: ServerThread, engine: sa.Engine
) -> tuple[list[dict[str, Any]], ...]:
    """A database holding accepted messages and a rejected one, as a snapshot."""
    answer = http.post(
        f"{gateway.url}/clevertap/pingbix-in",
        json={
            "messages": [
                {"to": NUMBER, "body": "kept", "message_id": "keep.1."},
                {"to": NUMBER, "body": "kept", "message_id": "keep.2."},
                {"to": "12", "body": "bad", "message_id": "keep.3."},
            ]
        },
        headers=AUTH,
    )
    assert answer.status_code == 202
    before = snapshot(engine)
    assert len(before[0]) == 3 and len(before[1]) == 1
    return before


@dataclass(frozen=True)
class Bad:
    """One bad request and what the gateway must answer."""

    status: int
    error: str  # a fragment the error message must contain
    content: bytes | None = None
    headers: dict[str, str] = field(default_factory=lambda: dict(JSON))
    method: str = "POST"
    query: str = ""
    nickname: str = "pingbix-in"
    auth: dict[str, str | bytes] | None = None
    rejected: str | None = None  # a fragment of the first rejection's error


def record(**fields: Any) -> bytes:
    return json.dumps({"to": NUMBER, "body": "hi", **fields}).encode()


def multipart(parts: str, boundary: str = "XyZ") -> tuple[bytes, dict[str, str]]:
    body = parts.replace("\n", "\r\n").encode()
    return body, {"content-type": f"multipart/form-data; boundary={boundary}"}


MULTIPART_FIELDS = """--XyZ
Content-Disposition: form-data; name="to"

+919876543210
--XyZ
Content-Disposition: form-data; name="body"

hi
--XyZ--
"""
TRUNCATED, MP = multipart(MULTIPART_FIELDS[:60])
FILE_UPLOAD, _ = multipart(
    MULTIPART_FIELDS.replace('name="body"', 'name="body"; filename="body.txt"')
)
LATIN1_MULTIPART = multipart(MULTIPART_FIELDS)[0].replace(b"hi", "héllo".encode("latin-1"))

CASES: dict[str, Bad] = {
    "malformed-json": Bad(400, "not valid JSON", b'{"to": "+91'),
    "empty-body": Bad(400, "empty", b""),
    "invalid-utf8-json": Bad(400, "UTF-8", b'{"to": "+919876543210", "body": "\xff\xfe"}'),
    "encoded-surrogate-json": Bad(400, "UTF-8", b'{"to": "1", "body": "\xed\xa0\x80"}'),
    "utf16-json": Bad(400, "UTF-8", '{"to": "+919876543210", "body": "hi"}'.encode("utf-16")),
    "deep-nesting": Bad(400, "nested too deeply", b"[" * 100_000),
    "deep-nesting-inside-record": Bad(
        400, "nested too deeply", b'{"to": "1", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    ),
    "huge-integer": Bad(400, "a number of more than 4300 digits", b'{"to": ' + b"9" * 5000 + b"}"),
    "top-level-array": Bad(400, "must be an object, not an array", b'[{"to": "1"}]'),
    "top-level-string": Bad(400, "must be an object, not a string", b'"+919876543210"'),
    "top-level-null": Bad(400, "must be an object, not null", b"null"),
    "messages-not-a-list": Bad(400, "`messages` must be an array", b'{"messages": {"to": "1"}}'),
    "messages-empty": Bad(400, "empty array", b'{"messages": []}'),
    "1001-records": Bad(
        413,
        "at most 1000",
        json.dumps({"messages": [{"to": NUMBER, "body": "x"}] * 1001}).encode(),
    ),
    "text-plain": Bad(415, "text/plain", b"to=1", headers={"content-type": "text/plain"}),
    "no-content-type": Bad(415, "(none)", b'{"to": "1"}', headers={}),
    "xml": Bad(415, "application/xml", b"<to>1</to>", headers={"content-type": "application/xml"}),
    "gzip-body": Bad(
        415,
        "content coding 'gzip' is not supported; send the body uncompressed",
        gzip.compress(record()),
        headers={**JSON, "content-encoding": "gzip"},
    ),
    "brotli-claimed": Bad(415, "'br'", record(), headers={**JSON, "content-encoding": "br"}),
    "invalid-utf8-form": Bad(
        400,
        "form body is not valid UTF-8",
        b"to=%2B919876543210&body=%FF",
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    "too-many-form-fields": Bad(
        400,
        "cannot be parsed",
        "&".join(f"k{i}=v" for i in range(1001)).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    ),
    "empty-form": Bad(
        400, "no fields", b"", headers={"content-type": "application/x-www-form-urlencoded"}
    ),
    "invalid-utf8-query": Bad(
        400, "query string is not valid UTF-8", method="GET", query="to=1&body=%C3%28"
    ),
    "empty-query": Bad(400, "no fields", method="GET"),
    "multipart-without-boundary": Bad(
        400, "boundary", b"x", headers={"content-type": "multipart/form-data"}
    ),
    "multipart-truncated": Bad(400, "closing boundary", TRUNCATED, headers=MP),
    "multipart-file-upload": Bad(400, "file upload", FILE_UPLOAD, headers=MP),
    "multipart-latin1": Bad(400, "not valid UTF-8", LATIN1_MULTIPART, headers=MP),
    "multipart-garbage": Bad(400, "multipart", b"\x00" * 100, headers=MP),
    "nul-in-value": Bad(400, "valid record", record(body="a\x00b"), rejected="NUL"),
    "nul-in-key": Bad(400, "valid record", record(**{"sender\x00id": "x"}), rejected="NUL"),
    "nul-in-extra-value": Bad(400, "valid record", record(senderid="\x00"), rejected="NUL"),
    "nul-in-form-value": Bad(
        400,
        "valid record",
        b"to=%2B919876543210&body=a%00b",
        headers={"content-type": "application/x-www-form-urlencoded"},
        rejected="NUL",
    ),
    "lone-surrogate-in-body": Bad(
        400, "valid record", b'{"to": "+919876543210", "body": "\\ud800"}', rejected="surrogate"
    ),
    "lone-surrogate-in-key": Bad(
        400, "valid record", b'{"to": "+919876543210", "body": "x", "\\udfff": 1}', rejected="key"
    ),
    "lone-surrogate-in-extra": Bad(
        400,
        "valid record",
        b'{"to": "+919876543210", "body": "x", "s": ["\\ud800"]}',
        rejected="surrogate",
    ),
    "to-is-an-object": Bad(400, "valid record", record(to={"n": 1}), rejected="not an object"),
    "to-is-an-array": Bad(400, "valid record", record(to=["1"]), rejected="not an array"),
    "to-is-a-boolean": Bad(400, "valid record", record(to=True), rejected="not a boolean"),
    "to-is-fractional": Bad(400, "valid record", record(to=9.5), rejected="not a number"),
    "body-is-a-number": Bad(400, "valid record", record(body=5.5), rejected="`body` must"),
    "message-id-is-an-object": Bad(
        400, "valid record", record(message_id={}), rejected="`message_id` must"
    ),
    "message-id-too-long": Bad(
        400, "valid record", record(message_id="m" * 256), rejected="longer than 255"
    ),
    "to-missing": Bad(400, "valid record", b'{"body": "hi"}', rejected="`to` is missing"),
    "to-empty": Bad(400, "valid record", record(to=""), rejected="`to` is missing"),
    "body-and-template-missing": Bad(
        400, "valid record", b'{"to": "+919876543210"}', rejected="$$Body"
    ),
    "number-not-normalisable": Bad(400, "valid record", record(to="12"), rejected="too short"),
    "number-is-text": Bad(400, "valid record", record(to="call me"), rejected="phone number"),
    "entries-not-objects": Bad(
        400, "valid record", b'{"messages": ["x", 1, null, []]}', rejected="JSON object"
    ),
    "put-method": Bad(405, "Method Not Allowed", record(), method="PUT"),
    "unknown-nickname": Bad(404, "no provider", record(), nickname="nope"),
    "nickname-with-odd-characters": Bad(404, "no provider", record(), nickname="%C3%A9%00"),
    "nickname-invalid-utf8": Bad(404, "no provider", record(), nickname="%FF%FE"),
    "missing-token": Bad(401, "token", record(), auth={}),
    "wrong-token": Bad(401, "token", record(), auth={"Authorization": "Bearer nope"}),
    "malformed-basic": Bad(401, "token", record(), auth={"Authorization": "Basic !!!not-b64"}),
    "non-ascii-basic": Bad(401, "token", record(), auth={"Authorization": "Basic é".encode()}),
    "non-ascii-bearer": Bad(
        401, "token", record(), auth={"Authorization": f"Bearer {TOKEN}é".encode()}
    ),
    "basic-without-colon": Bad(
        401,
        "token",
        record(),
        auth={"Authorization": "Basic " + base64.b64encode(TOKEN.encode()).decode()},
    ),
    "unknown-scheme": Bad(401, "token", record(), auth={"Authorization": f"Token {TOKEN}"}),
}


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_bad_input_gets_its_status_and_an_error_and_changes_nothing(
    http: httpx.Client, gateway: ServerThread, engine: sa.Engine, existing: Any, case: Bad
) -> None:
    url = f"{gateway.url}/clevertap/{case.nickname}"
    if case.query:
        url += "?" + case.query
    given = {**(AUTH if case.auth is None else case.auth), **case.headers}
    headers = {k.encode(): v if isinstance(v, bytes) else v.encode() for k, v in given.items()}
    answer = http.request(case.method, url, content=case.content, headers=headers)

    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == "application/json"
    error = answer.json()["error"]
    assert case.error in error
    if case.status == 400:
        assert answer.json()["accepted"] == 0
    if case.rejected is not None:
        assert case.rejected in answer.json()["rejected"][0]["error"]
    assert snapshot(engine) == existing


def test_head_is_refused_saying_which_methods_send(
    http: httpx.Client, gateway: ServerThread, engine: sa.Engine, existing: Any
) -> None:
    answer = http.head(f"{gateway.url}/clevertap/pingbix-in", headers=AUTH)

    assert answer.status_code == 405
    assert answer.headers["allow"] == "GET, POST"
    assert snapshot(engine) == existing
