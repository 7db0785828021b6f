"""Hostile delivery reports over real HTTP, for Pingbix and example_provider: never a 5xx,
the contract's status with a reason, nothing stored for a refusal, and what is stored is
the text the vendor sent, byte for byte (but for what no database stores, which a raw field
keeps as a visible escape).

Reports here match no message, so each waits in the inbox with the vendor's raw fields:
that is where the stored text is read back from.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa
from conftest import CALLBACK_TOKEN, TOKEN, ConfigFactory, ServerThread
from hostile_texts import HOSTILE
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from smsgate.host.app import create_app
from smsgate.storage.models import DeliveryInbox, MessageEvent
from smsgate_example_provider.signatures import parse_secret, sign

INBOX = DeliveryInbox.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
MB = 1024 * 1024
FORM = {"content-type": "application/x-www-form-urlencoded"}
PINGBIX = f"/callbacks/pingbix-in/{CALLBACK_TOKEN}"
EXAMPLE = f"/callbacks/example-in/{CALLBACK_TOKEN}x"
SIGNING_SECRET = "whsec_" + base64.b64encode(b"hostile-test-signing-key-01234567").decode()
EXAMPLE_PROVIDER = f"""
[gateway.dispatch]
enabled = false

[gateway.delivery]
enabled = false

[providers.example-in]
plugin = "example_provider"
token = "{TOKEN}x"
callback_token = "{CALLBACK_TOKEN}x"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=TEST"

[providers.example-in.options]
base_url = "http://127.0.0.1:9"
api_key = "sk_test_hostile_0123"
webhook_secret = "{SIGNING_SECRET}"
sender = "ACMEIN"
"""


@pytest.fixture
def server(make_config: ConfigFactory, database_url: str) -> Iterator[ServerThread]:
    """Pingbix and example_provider side by side, no workers: reports wait in the inbox."""
    with ServerThread(create_app(make_config(database_url, extra=EXAMPLE_PROVIDER))) as running:
        yield running


def signed(body: bytes, webhook_id: str = "evt_hostile") -> dict[str, str]:
    """The headers example_provider's vendor signs a report with."""
    stamp = int(time.time())
    return {
        "content-type": "application/json",
        "webhook-id": webhook_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign(parse_secret(SIGNING_SECRET), webhook_id, stamp, body),
    }


def example_report(**data: Any) -> bytes:
    fields = {"id": "msg_1", "reference": "1", "to": "+919876543210", "status": "delivered"}
    return json.dumps({"type": "message.status", "data": {**fields, **data}}).encode()


def stored(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        inbox = connection.execute(sa.select(INBOX.c.event).order_by(INBOX.c.id)).scalars()
        return list(inbox)


def nothing_stored(engine: sa.Engine) -> bool:
    with engine.connect() as connection:
        waiting = connection.execute(sa.select(sa.func.count()).select_from(INBOX)).scalar()
        events = connection.execute(
            sa.select(sa.func.count()).select_from(EVENTS).where(EVENTS.c.kind != "accepted")
        ).scalar()
    return waiting == 0 and events == 0


@dataclass(frozen=True)
class Bad:
    """One hostile request and the status it must get."""

    status: int
    error: str
    content: bytes = b""
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    path: str = PINGBIX
    query: str = ""
    method: str = "POST"
    #: Signed as example_provider's vendor would, when sent (a signature ages).
    signed: bool = False


# More digits than Python turns into an int (4300): json.loads refuses it.
HUGE_NUMBER = example_report(id="@").replace(b'"@"', b"9" * 5000)
DEEP = b"[" * 100_000 + b"]" * 100_000
BAD: dict[str, Bad] = {
    "pingbix-deep-nesting": Bad(400, "not valid JSON", DEEP),
    "pingbix-deep-nesting-in-a-field": Bad(
        400, "not valid JSON", b'{"Transactionid": "1", "x": ' + DEEP + b"}"
    ),
    "pingbix-invalid-utf8-json": Bad(400, "cannot be read", b'{"Transactionid": "\xff\xfe"}'),
    "pingbix-invalid-utf8-form": Bad(
        400,
        "description contains a lone surrogate or a byte that is not UTF-8",
        b"Transactionid=1&Status=%FF",
        {"content-type": "application/x-www-form-urlencoded"},
    ),
    "pingbix-invalid-utf8-query": Bad(
        400,
        "vendor_id contains a lone surrogate or a byte",
        method="GET",
        query="Transactionid=%C3%28",
    ),
    "pingbix-nul-in-query": Bad(
        400, "NUL", method="GET", query="Transactionid=tx%00-1&Status=DELIVRD"
    ),
    "pingbix-nul-in-json-value": Bad(
        400, "NUL", b'{"Transactionid": "tx-1", "Status": "DELIV\\u0000RD"}'
    ),
    "pingbix-nul-in-the-cause": Bad(400, "NUL", b"Transactionid=tx-1&Cause=a%00b", FORM),
    "pingbix-lone-surrogate-in-the-cause": Bad(
        400, "surrogate", b'{"Transactionid": "tx-1", "Cause": "\\ud800"}'
    ),
    "pingbix-lone-surrogate-id": Bad(400, "surrogate", b'{"Transactionid": "\\udfff"}'),
    "pingbix-huge-integer": Bad(400, "not valid JSON", b'{"Transactionid": ' + b"9" * 5000 + b"}"),
    "pingbix-1001-reports": Bad(
        400,
        "more than 1000",
        json.dumps([{"Transactionid": str(n)} for n in range(1001)]).encode(),
    ),
    "pingbix-no-transaction-id": Bad(400, "Transactionid", b'{"Status": "DELIVRD"}'),
    "example-unsigned": Bad(400, "signature", example_report(), path=EXAMPLE),
    "example-deep-nesting-signed": Bad(400, "JSON", DEEP, path=EXAMPLE, signed=True),
    "example-invalid-utf8-signed": Bad(400, "JSON", b'{"type": "\xff"}', path=EXAMPLE, signed=True),
    "example-nul-signed": Bad(
        400, "NUL", example_report(id="msg\u0000 1"), path=EXAMPLE, signed=True
    ),
    "example-lone-surrogate-signed": Bad(
        400, "surrogate", example_report(id="\ud800"), path=EXAMPLE, signed=True
    ),
    "example-huge-number-signed": Bad(
        400, "cannot be read", HUGE_NUMBER, path=EXAMPLE, signed=True
    ),
}


@pytest.mark.parametrize("case", BAD.values(), ids=BAD.keys())
def test_hostile_reports_get_a_400_with_the_reason_and_store_nothing(server, engine, case):
    url = server.url + case.path + (f"?{case.query}" if case.query else "")
    headers = signed(case.content) if case.signed else case.headers
    answer = httpx.request(case.method, url, content=case.content, headers=headers)

    assert answer.status_code == case.status, answer.text
    assert answer.headers["content-type"] == "application/json"
    assert case.error in answer.json()["error"]
    assert nothing_stored(engine)


@dataclass(frozen=True)
class Escaped:
    """A report whose raw fields hold what no database stores: kept, as escapes."""

    content: bytes
    raw: dict[str, Any]
    headers: dict[str, str] = field(default_factory=lambda: {"content-type": "application/json"})
    path: str = PINGBIX
    signed: bool = False
    query: str = ""


LATIN1_MULTIPART = (
    b"--XX\r\nContent-Disposition: form-data; name=Transactionid\r\n\r\ntx-1\r\n"
    b"--XX\r\nContent-Disposition: form-data; name=Remarks\r\n\r\ncaf\xe9\r\n--XX--\r\n"
)
ESCAPED: dict[str, Escaped] = {
    "pingbix-latin1-byte-in-query": Escaped(
        b"", {"remarks": "caf\\xe9"}, query="Transactionid=tx-1&Remarks=caf%E9"
    ),
    "pingbix-latin1-byte-in-form": Escaped(
        b"Transactionid=tx-1&Remarks=caf%E9", {"remarks": "caf\\xe9"}, headers=FORM
    ),
    "pingbix-raw-latin1-byte-in-form": Escaped(
        b"Transactionid=tx-1&Remarks=caf\xe9", {"remarks": "caf\\xe9"}, headers=FORM
    ),
    "pingbix-latin1-byte-in-multipart": Escaped(
        LATIN1_MULTIPART,
        {"remarks": "caf\\xe9"},
        headers={"content-type": "multipart/form-data; boundary=XX"},
    ),
    "pingbix-latin1-byte-in-json": Escaped(
        b'{"Transactionid": "tx-1", "Remarks": "caf\xe9"}', {"remarks": "caf\\xe9"}
    ),
    "pingbix-nul-in-json-key": Escaped(
        b'{"Transactionid": "tx-1", "a\\u0000": "1"}', {"a\\u0000": "1"}
    ),
    "pingbix-nul-in-form": Escaped(
        b"Transactionid=tx-1&Note=a%00b", {"note": "a\\u0000b"}, headers=FORM
    ),
    "pingbix-lone-surrogate": Escaped(
        b'{"Transactionid": "tx-1", "Note": "\\ud800"}', {"note": "\\ud800"}
    ),
    "example-infinity-signed": Escaped(
        example_report(id="msg_1", extra=float("inf")),
        {"extra": "Infinity"},
        path=EXAMPLE,
        signed=True,
    ),
    "example-nan-signed": Escaped(
        example_report(extra=float("nan")), {"extra": "NaN"}, path=EXAMPLE, signed=True
    ),
}


@pytest.mark.parametrize("case", ESCAPED.values(), ids=ESCAPED.keys())
def test_what_no_database_stores_in_a_raw_field_is_kept_as_an_escape(server, engine, case):
    headers = signed(case.content) if case.signed else case.headers
    url = server.url + case.path + (f"?{case.query}" if case.query else "")
    if case.query:
        answer = httpx.get(url)
    else:
        answer = httpx.post(url, content=case.content, headers=headers)

    assert answer.status_code == 200, answer.text
    (report,) = stored(engine)
    assert report["raw"].items() >= case.raw.items()


@pytest.mark.parametrize("path", [PINGBIX, EXAMPLE], ids=["pingbix", "example_provider"])
def test_a_50_mb_report_is_413_declared_or_streamed(server, engine, path):
    def stream():
        for _ in range(50 * 16):
            yield b" " * 65536

    with httpx.Client(timeout=60) as http:
        streamed = http.post(server.url + path, content=stream(), headers={"X-Test": "1"})
        declared = http.post(server.url + path, content=b" " * (50 * MB))

    assert (streamed.status_code, declared.status_code) == (413, 413)
    assert "larger than 8388608 bytes" in streamed.json()["error"]
    assert nothing_stored(engine)


def test_hostile_text_in_every_pingbix_field_is_stored_byte_for_byte(server, engine):
    sent = []
    for index, text in enumerate(HOSTILE):
        fields = {
            "Transactionid": f"tx{index} {text}",
            "Messageid": text,
            "ErrorCode": text,
            "mobileNo": text,
            "ReceivedTime": text,
            "DeliveredTime": text,
            "Status": f"UNDELIV {text}",
            text: text,
        }
        by_get = httpx.get(server.url + PINGBIX, params=fields)
        by_json = httpx.post(server.url + PINGBIX, json=fields)
        by_form = httpx.post(server.url + PINGBIX, content=urlencode(fields).encode(), headers=FORM)
        assert [a.status_code for a in (by_get, by_json, by_form)] == [200] * 3, text
        sent += [fields] * 3

    reports = stored(engine)
    assert len(reports) == len(sent)
    for report, fields in zip(reports, sent, strict=True):
        assert report["vendor_id"].encode() == fields["Transactionid"].strip().encode()
        assert report["vendor_status"].encode() == fields["Status"].strip().upper().encode()
        for key, value in fields.items():
            assert report["raw"][key.strip().lower()].encode() == value.encode()


PINGBIX_FIELDS = {
    "Transactionid": "tx-1",
    "Messageid": "m-1",
    "ErrorCode": "000",
    "mobileNo": "919876543210",
    "ReceivedTime": "2026-11-26 10:00:00",
    "DeliveredTime": "2026-11-26 10:00:04",
    "Status": "DELIVRD",
    "Remarks": "ok",
}


@pytest.mark.parametrize("name", PINGBIX_FIELDS)
def test_a_byte_that_is_not_utf8_in_any_pingbix_field_is_kept_or_refused_never_a_500(
    server, engine, name
):
    def query(value: bytes) -> bytes:
        fields = {key: text.encode() for key, text in PINGBIX_FIELDS.items()}
        return b"&".join(
            key.encode() + b"=" + (value if key == name else text) for key, text in fields.items()
        )

    by_get = httpx.get(server.url + PINGBIX + "?" + query(b"x%E9y").decode())
    by_form = httpx.post(server.url + PINGBIX, content=query(b"x\xe9y"), headers=FORM)
    document = {key: f'"{text}"'.encode() for key, text in PINGBIX_FIELDS.items()}
    document[name] = b'"x\xe9y"'
    by_json = httpx.post(
        server.url + PINGBIX,
        content=b"{" + b",".join(f'"{k}":'.encode() + v for k, v in document.items()) + b"}",
        headers={"content-type": "application/json"},
    )

    answers = [by_get, by_form, by_json]
    judged = name in ("Transactionid", "Status", "mobileNo")
    assert [a.status_code for a in answers] == [400 if judged else 200] * 3, [
        a.text for a in answers
    ]
    if judged:
        assert all("not UTF-8" in answer.json()["error"] for answer in answers)
        assert nothing_stored(engine)
    else:
        reports = stored(engine)
        assert [report["raw"][name.lower()] for report in reports] == ["x\\xe9y"] * 3


def test_hostile_text_in_every_example_provider_field_is_stored_byte_for_byte(server, engine):
    sent = []
    for index, text in enumerate(HOSTILE):
        body = example_report(
            id=f"msg{index} {text}", reference=text, to=text, status=text, extra=text
        )
        answer = httpx.post(server.url + EXAMPLE, content=body, headers=signed(body, f"e{index}"))
        assert answer.status_code == 200, (text, answer.text)
        sent.append(json.loads(body)["data"])

    reports = stored(engine)
    assert len(reports) == len(sent)
    for report, data in zip(reports, sent, strict=True):
        assert report["vendor_id"].encode() == data["id"].strip().encode()
        for key in ("id", "reference", "to", "status", "extra"):
            assert report["raw"][key].encode() == data[key].encode()


scalars = st.one_of(
    st.text(max_size=20),
    st.sampled_from(HOSTILE),
    st.integers(-(10**30), 10**30),
    st.floats(allow_nan=False),
    st.booleans(),
    st.none(),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=6,
)
pingbix_reports = st.fixed_dictionaries(
    {"Transactionid": st.text(min_size=1, max_size=40) | st.sampled_from(HOSTILE)},
    optional={
        "Status": st.sampled_from(["DELIVRD", "UNDELIV", "EXPIRED", ""]) | st.text(max_size=9),
        "ErrorCode": st.text(max_size=5),
        "DeliveredTime": st.sampled_from(["2026-11-25 14:30:05", "", "x"]) | st.text(),
        "Cause": st.text(max_size=40) | st.sampled_from(HOSTILE),
        "mobileNo": st.text(max_size=15),
    },
).flatmap(
    lambda report: st.dictionaries(st.text(max_size=10), json_values, max_size=3).map(
        lambda extra: {**extra, **report}
    )
)
pingbix_documents = st.one_of(
    pingbix_reports, st.lists(pingbix_reports, min_size=1, max_size=4), json_values
)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=pingbix_documents, as_form=st.booleans())
def test_generated_pingbix_reports_never_get_a_5xx_and_are_stored_as_sent(
    server, engine, document, as_form
):
    with engine.begin() as connection:
        connection.execute(INBOX.delete())
    if as_form and isinstance(document, dict):
        pairs = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in document.items()}
        try:
            content = urlencode(pairs).encode()
        except UnicodeEncodeError:  # a lone surrogate cannot be sent as a form
            return
        answer = httpx.post(server.url + PINGBIX, content=content, headers=FORM)
    else:
        answer = httpx.post(server.url + PINGBIX, content=json.dumps(document).encode())

    event(f"status {answer.status_code}")
    assert answer.status_code in {200, 400}, answer.text
    if answer.status_code == 400:
        assert answer.json()["error"].startswith("the report cannot be read")
        assert nothing_stored(engine)
        return
    reports = stored(engine)
    assert answer.json()["received"] == len(reports)
    for report in reports:
        # Every raw value is the text the vendor sent, under its lower-cased key.
        assert all(isinstance(value, str) for value in report["raw"].values())
        assert report["vendor_id"].encode() == report["raw"]["transactionid"].strip().encode()


example_documents = st.one_of(
    st.builds(
        lambda data, extra: {"type": "message.status", "data": {**extra, **data}},
        st.fixed_dictionaries(
            {"id": st.text(min_size=1, max_size=40) | st.sampled_from(HOSTILE)},
            optional={
                "status": st.sampled_from(["delivered", "failed", "queued"]) | st.text(max_size=9),
                "reference": st.text(max_size=10),
                "to": st.text(max_size=15),
                "error": json_values,
                "updated_at": st.text(max_size=25),
            },
        ),
        st.dictionaries(st.text(max_size=10), json_values, max_size=3),
    ),
    json_values,
)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=example_documents)
def test_generated_signed_example_reports_never_get_a_5xx_and_keep_their_id(
    server, engine, document
):
    with engine.begin() as connection:
        connection.execute(INBOX.delete())
    body = json.dumps(document).encode()

    answer = httpx.post(server.url + EXAMPLE, content=body, headers=signed(body))

    event(f"status {answer.status_code}")
    assert answer.status_code in {200, 400}, answer.text
    if answer.status_code == 400:
        assert answer.json()["error"].startswith("the report cannot be read")
        assert nothing_stored(engine)
        return
    for report in stored(engine):
        sent = document["data"]["id"]
        assert report["vendor_id"].encode() == str(sent).strip()[:128].encode()
