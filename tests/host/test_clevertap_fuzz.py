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
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from smsgate.host.app import create_app
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
    """One gateway for every generated example, without dispatch workers."""
    config = make_config(database_url, extra="[gateway.dispatch]\nenabled = false\n")
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
