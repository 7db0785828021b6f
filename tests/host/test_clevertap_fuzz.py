"""Generated JSON bodies against the running gateway: never a 5xx, and what is accepted is
stored exactly as sent."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import TOKEN, ConfigFactory, ServerThread
from hostile_texts import HOSTILE
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from smsgate.host.app import create_app
from smsgate.intake.records import unfilled
from smsgate.storage.models import Message

MESSAGES = Message.__table__  # type: ignore[attr-defined]
AUTH = {"Authorization": f"Bearer {TOKEN}", "content-type": "application/json"}

SPECIAL = [
    "שלום עולם",  # right to left
    "مرحبا\u200f",  # RTL mark
    "\u202eevil",  # right-to-left override
    "😀👍🏽👨‍👩‍👧",  # emoji, modifiers, joiners
    "नमस्ते",
    "a.b.c.",
    "{}[]^~|€",  # GSM-7 extension characters
    "\ud800",  # a lone surrogate: refused, never stored
    "\x00",  # NUL: refused, never stored
    "",
    " ",
]
texts = st.one_of(st.text(max_size=30), st.sampled_from(SPECIAL))
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats(allow_nan=False, allow_infinity=False)
    | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=8,
)
numbers = st.sampled_from(
    ["+91 98765 43210", "9876543211", "09876543212", "919876543213", "+1 650 253 0000", "12"]
)
# Records that are mostly right, so that many examples get as far as the database.
likely_records = st.fixed_dictionaries(
    {"to": numbers, "body": st.text(min_size=1, max_size=200), "message_id": texts},
    optional={"campaign_id": texts, "senderid": json_values, "template_id": texts},
)
any_records = st.fixed_dictionaries(
    {},
    optional={
        "to": numbers | numbers | json_values,
        "body": texts | texts | json_values,
        "template_id": texts,
        "template_variables": texts | st.lists(texts | st.integers(), max_size=3),
        "campaign_id": texts,
        "message_id": texts | texts | json_values,
        "senderid": json_values,
        "ünïcode-key": texts,
    },
)
records = likely_records | likely_records | any_records
documents = st.one_of(
    records,
    records,
    st.builds(
        lambda globals_, batch: {**globals_, "messages": batch},
        st.fixed_dictionaries({}, optional={"template_id": texts, "campaign_id": texts}),
        st.lists(records | json_values, max_size=6),
    ),
    json_values,
)


@pytest.fixture
def gateway(make_config: ConfigFactory, database_url: str) -> Iterator[ServerThread]:
    """One gateway for every generated example, without dispatch or delivery workers.

    Their backoff jitter draws from the global ``random`` in the server's thread, which
    hypothesis takes for a strategy using it (a flaky HypothesisDeprecationWarning).
    """
    extra = "[gateway.dispatch]\nenabled = false\n[gateway.delivery]\nenabled = false\n"
    config = make_config(database_url, extra=extra)
    with ServerThread(create_app(config)) as server:
        yield server


def _text(value: Any) -> str | None:
    """What the gateway stores for a canonical key's value."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) else None


@settings(
    max_examples=50,
    deadline=None,
    database=None,
    # The server and the database are shared by the examples on purpose.
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(document=documents)
def test_generated_json_bodies_never_get_a_5xx_and_accepted_ones_are_stored_as_sent(
    gateway: ServerThread, engine: sa.Engine, document: Any
) -> None:
    # ensure_ascii: a lone surrogate travels as the escape \ud800, the way JSON allows.
    body = json.dumps(document).encode()
    with httpx.Client(timeout=30) as client:
        answer = client.post(f"{gateway.url}/clevertap/pingbix-in", content=body, headers=AUTH)

    event(f"status {answer.status_code}")
    assert answer.status_code in {202, 400, 413}, answer.text
    result = answer.json()
    if answer.status_code != 202:
        assert isinstance(result["error"], str) and result["error"]
        return
    assert set(result) == {"accepted", "duplicates", "untracked", "rejected"}

    batch = document.get("messages", [document])
    shared = {k: v for k, v in document.items() if k != "messages"}
    merged = [{**shared, **r} if isinstance(r, dict) else r for r in batch]
    rejected = {entry["index"] for entry in result["rejected"]}
    sent: dict[str, str | None] = {}
    for index, record in enumerate(merged):
        if index in rejected or not isinstance(record, dict):
            continue
        message_id = _text(record.get("message_id"))
        if message_id:  # not untracked
            sent.setdefault(message_id, _text(record.get("body")))
    if not sent:
        return
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(MESSAGES.c.message_id, MESSAGES.c.body, MESSAGES.c.status).where(
                MESSAGES.c.message_id.in_(list(sent))
            )
        ).all()
    stored = {row.message_id: row for row in rows}
    event("stored rows compared with what was sent")
    for message_id, body_sent in sent.items():
        row = stored[message_id]
        assert row.message_id.encode() == message_id.encode()
        # A message_id first seen in an earlier example keeps what that example stored.
        if row.status == "accepted" and result["duplicates"] == 0:
            assert (row.body or "").encode() == (body_sent or "").encode()


STORED_FIELDS = ("body", "template_id", "template_variables", "campaign_id", "extras")


def stored_row(engine: sa.Engine, message_id: str) -> Any:
    with engine.connect() as connection:
        return connection.execute(
            sa.select(MESSAGES).where(MESSAGES.c.message_id == message_id)
        ).one()


def hostile_record(text: str, index: int, *, extra_key: str | None = None) -> dict[str, str]:
    """A valid record with ``text`` in every field it has, the extra's key included."""
    return {
        "to": "+91 98765 43210",
        "message_id": f"{text}.{index}.",
        "body": text,
        "template_id": text,
        "template_variables": text,
        "campaign_id": text,
        extra_key or text: text,
    }


def assert_stored_as_sent(engine: sa.Engine, record: dict[str, str]) -> None:
    row = stored_row(engine, record["message_id"])
    assert row.message_id.encode() == record["message_id"].encode()
    for name in STORED_FIELDS[:-1]:
        assert getattr(row, name).encode() == record[name].encode(), name
    extras = {k: v for k, v in record.items() if k not in {"to", "message_id", *STORED_FIELDS}}
    assert row.extras == extras
    assert [(k.encode(), v.encode()) for k, v in row.extras.items()] == [
        (k.encode(), v.encode()) for k, v in extras.items()
    ]


@pytest.mark.parametrize("encoding", ["json", "form", "multipart", "get"])
def test_hostile_text_in_every_field_is_stored_byte_for_byte(gateway, engine, encoding):
    url = f"{gateway.url}/clevertap/pingbix-in"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    records = [
        # A multipart field name cannot carry every character; its value can.
        hostile_record(text, i, extra_key="x-extra" if encoding == "multipart" else None)
        for i, text in enumerate(HOSTILE)
    ]
    with httpx.Client(timeout=30) as client:
        if encoding == "json":
            answers = [client.post(url, json={"messages": records}, headers=auth)]
        elif encoding == "form":
            answers = [client.post(url, data=r, headers=auth) for r in records]
        elif encoding == "multipart":
            multipart = {**auth, "content-type": "multipart/form-data; boundary=b0undary"}
            answers = [
                client.post(url, content=multipart_body(r), headers=multipart) for r in records
            ]
        else:
            answers = [client.get(url, params=r, headers=auth) for r in records]

    for answer in answers:
        assert answer.status_code == 202, answer.text
        assert answer.json()["rejected"] == []
    for record in records:
        assert_stored_as_sent(engine, record)


def multipart_body(fields: dict[str, str]) -> bytes:
    parts = [
        f'--b0undary\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    return ("".join(parts) + "--b0undary--\r\n").encode()


def test_template_variables_as_a_list_are_stored_as_their_json_text(gateway, engine):
    record = {
        "to": "+91 98765 43210",
        "message_id": "tv.",
        "template_id": "t-1",
        "template_variables": [*HOSTILE, 10**30, 1.5],
    }
    answer = httpx.post(f"{gateway.url}/clevertap/pingbix-in", json=record, headers=AUTH)

    assert answer.status_code == 202, answer.text
    stored = stored_row(engine, "tv.").template_variables
    assert json.loads(stored) == [*HOSTILE, str(10**30), "1.5"]


hostile_texts = st.one_of(
    # A CleverTap placeholder left unfilled ("$$Body") is, on purpose, a field not set.
    st.text(min_size=1, max_size=40).filter(lambda text: text.strip() and not unfilled(text)),
    st.sampled_from(HOSTILE),
)
hostile_records = st.builds(
    lambda text, extra_key, extra, variables, campaign, index: {
        "to": "+91 98765 43210",
        "message_id": f"{text}.{index}.",
        "body": text,
        "template_variables": variables,
        "campaign_id": campaign,
        f"x-{extra_key}": extra,
    },
    hostile_texts,
    hostile_texts,
    hostile_texts,
    hostile_texts,
    hostile_texts,
    st.integers(0, 10**9),
)


@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(batch=st.lists(hostile_records, min_size=1, max_size=5), as_form=st.booleans())
def test_generated_text_in_every_field_is_stored_byte_for_byte_or_refused_with_a_reason(
    gateway: ServerThread, engine: sa.Engine, batch: list[dict[str, str]], as_form: bool
) -> None:
    url = f"{gateway.url}/clevertap/pingbix-in"
    with httpx.Client(timeout=30) as client:
        if as_form:
            bearer = {"Authorization": AUTH["Authorization"]}
            answers = [client.post(url, data=r, headers=bearer) for r in batch]
            results = [(a, [r]) for a, r in zip(answers, batch, strict=True)]
        else:
            results = [(client.post(url, json={"messages": batch}, headers=AUTH), batch)]

    for answer, records in results:
        assert answer.status_code in {202, 400}, answer.text
        rejected = {entry["index"]: entry["error"] for entry in answer.json()["rejected"]}
        for index, record in enumerate(records):
            if index in rejected:
                # Only text no database can hold unchanged is refused.
                assert "NUL" in rejected[index] or "surrogate" in rejected[index]
                assert any("\x00" in v or not v.isprintable() for v in record.values())
                continue
            if answer.json()["duplicates"]:
                continue
            row = stored_row(engine, record["message_id"])
            for name in ("body", "template_variables", "campaign_id"):
                assert getattr(row, name).encode() == record[name].encode()
            key = next(k for k in record if k.startswith("x-"))
            assert row.extras[key].encode() == record[key].encode()
