"""The send endpoint over real HTTP: what CleverTap sends is stored, and the answer says so."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import TOKEN, ConfigFactory, ServerThread

from smsgate.host.app import create_app
from smsgate.storage.database import create_engine, downgrade, upgrade
from smsgate.storage.models import Message, MessageEvent

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
# Dispatch workers would move stored rows on; these tests look at the rows as accepted.
NO_DISPATCH = "[gateway.dispatch]\nenabled = false\n"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NUMBER = "+91 98765 43210"
E164 = "+919876543210"


@pytest.fixture(scope="module")
def http() -> Iterator[httpx.Client]:
    """One client for the module: a new one per request costs more than the request."""
    with httpx.Client(timeout=60) as client:
        yield client


@pytest.fixture
def gateway(make_config: ConfigFactory, database_url: str) -> Iterator[ServerThread]:
    """The test gateway without dispatch workers: rows stay as the endpoint stored them."""
    config = make_config(database_url, extra=NO_DISPATCH)
    with ServerThread(create_app(config)) as server:
        yield server


def send(
    http: httpx.Client, gateway: ServerThread, payload: Any = None, **kwargs: Any
) -> httpx.Response:
    """POST ``payload`` as JSON (or ``kwargs`` as given) to the test provider."""
    if payload is not None:
        kwargs["json"] = payload
    headers = {**AUTH, **kwargs.pop("headers", {})}
    return http.post(f"{gateway.url}/clevertap/pingbix-in", headers=headers, **kwargs)


def stored(engine: sa.Engine) -> dict[str, dict[str, Any]]:
    """Every stored message by message_id."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(MESSAGES)).mappings().all()
    return {row["message_id"]: dict(row) for row in rows}


def events(engine: sa.Engine) -> list[dict[str, Any]]:
    """Every stored event, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(sa.select(EVENTS).order_by(EVENTS.c.id)).mappings().all()
    return [dict(row) for row in rows]


def test_json_record_is_stored_with_the_six_canonical_keys_in_their_columns(http, gateway, engine):
    answer = send(
        http,
        gateway,
        {
            "to": NUMBER,
            "body": "Your code is 1234",
            "template_id": "1207161234567890123",
            "template_variables": '["1234"]',
            "campaign_id": "1700000000",
            "message_id": "1700000000.abc.",
        },
    )

    assert answer.status_code == 202
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"accepted": 1, "duplicates": 0, "untracked": 0, "rejected": []}
    row = stored(engine)["1700000000.abc."]
    assert row["nickname"] == "pingbix-in"
    assert row["to"] == E164
    assert row["raw_to"] == NUMBER
    assert row["body"] == "Your code is 1234"
    assert row["template_id"] == "1207161234567890123"
    assert row["template_variables"] == '["1234"]'
    assert row["campaign_id"] == "1700000000"
    assert row["extras"] == {}
    assert row["status"] == "accepted"
    assert row["tracked"] is True
    assert (row["encoding"], row["segments"]) == ("gsm7", 1)


def test_batch_global_keys_apply_to_records_that_do_not_set_them(http, gateway, engine):
    answer = send(
        http,
        gateway,
        {
            "template_id": "T-global",
            "campaign_id": "C-1",
            "senderid": "GLOBAL",
            "messages": [
                {"to": NUMBER, "body": "one", "message_id": "m.1."},
                {"to": NUMBER, "body": "two", "message_id": "m.2.", "template_id": "T-own"},
                {"to": NUMBER, "body": "three", "message_id": "m.3.", "senderid": "OWN"},
            ],
        },
    )

    assert answer.status_code == 202
    assert answer.json()["accepted"] == 3
    rows = stored(engine)
    assert rows["m.1."]["template_id"] == "T-global"
    assert rows["m.2."]["template_id"] == "T-own"
    assert {row["campaign_id"] for row in rows.values()} == {"C-1"}
    assert rows["m.1."]["extras"] == {"senderid": "GLOBAL"}
    assert rows["m.3."]["extras"] == {"senderid": "OWN"}
    assert [rows[m]["body"] for m in ("m.1.", "m.2.", "m.3.")] == ["one", "two", "three"]


def test_form_urlencoded_record_is_stored(http, gateway, engine):
    fields = {"to": NUMBER, "body": "नमस्ते & hello", "message_id": "f.1.", "senderid": "ACME"}
    answer = send(http, gateway, data=fields)

    assert answer.status_code == 202, answer.text
    row = stored(engine)["f.1."]
    assert (row["to"], row["body"], row["extras"]) == (E164, "नमस्ते & hello", {"senderid": "ACME"})
    assert (row["encoding"], row["segments"]) == ("ucs2", 1)


def test_multipart_record_is_stored(http, gateway, engine):
    fields = {"to": NUMBER, "body": "line one\r\nline two 😀", "message_id": "mp.1."}
    answer = send(http, gateway, files={key: (None, value) for key, value in fields.items()})

    assert answer.status_code == 202, answer.text
    row = stored(engine)["mp.1."]
    assert (row["to"], row["body"]) == (E164, "line one\r\nline two 😀")


def test_get_query_record_is_stored(http, gateway, engine):
    params = {"to": NUMBER, "body": "via GET", "message_id": "g.1.", "campaign_id": "c"}
    answer = http.get(f"{gateway.url}/clevertap/pingbix-in", params=params, headers=AUTH)

    assert answer.status_code == 202, answer.text
    row = stored(engine)["g.1."]
    assert (row["to"], row["body"], row["campaign_id"]) == (E164, "via GET", "c")


def test_json_with_charset_parameter_is_read_as_json(http, gateway, engine):
    body = json.dumps({"to": NUMBER, "body": "ü", "message_id": "cs.1."}).encode()
    answer = send(
        http, gateway, content=body, headers={"content-type": "application/json; charset=UTF-8"}
    )

    assert answer.status_code == 202, answer.text
    assert stored(engine)["cs.1."]["body"] == "ü"


def test_extra_keys_are_kept_as_strings_with_non_strings_as_json_text(http, gateway, engine):
    extras = {
        "senderid": "ACMEIN",
        "count": 5,
        "ratio": 1.5,
        "flag": True,
        "nested": {"a": [1, "ü", None]},
        "list": ["x", 2],
    }
    answer = send(http, gateway, {"to": NUMBER, "body": "hi", "message_id": "x.1.", **extras})

    assert answer.status_code == 202
    assert stored(engine)["x.1."]["extras"] == {
        "senderid": "ACMEIN",
        "count": "5",
        "ratio": "1.5",
        "flag": "true",
        "nested": '{"a": [1, "ü", null]}',
        "list": '["x", 2]',
    }


def test_extra_key_set_to_null_is_left_out(http, gateway, engine):
    answer = send(
        http, gateway, {"to": NUMBER, "body": "hi", "message_id": "n.1.", "senderid": None}
    )

    assert answer.status_code == 202
    assert stored(engine)["n.1."]["extras"] == {}


def test_to_given_as_a_json_number_is_accepted(http, gateway, engine):
    answer = send(http, gateway, {"to": 919876543210, "body": "hi", "message_id": "i.1."})

    assert answer.status_code == 202
    row = stored(engine)["i.1."]
    assert (row["to"], row["raw_to"]) == (E164, "919876543210")


def test_template_variables_given_as_an_array_are_stored_as_json_text(http, gateway, engine):
    answer = send(
        http,
        gateway,
        {"to": NUMBER, "template_id": "T", "template_variables": ["a|b", 7], "message_id": "t.1."},
    )

    assert answer.status_code == 202
    assert stored(engine)["t.1."]["template_variables"] == '["a|b", "7"]'


def test_template_id_without_body_is_enough(http, gateway, engine):
    answer = send(http, gateway, {"to": NUMBER, "template_id": "T", "message_id": "tb.1."})

    assert answer.status_code == 202
    assert stored(engine)["tb.1."]["body"] is None


@pytest.mark.parametrize(
    "message_id",
    [
        "1700000000.1a2b3c4d5e6f.0123456789abcdef.9876543210.fedcba.",
        "trailing.dot.",
        "..",
        " spaced  id ",
        "यूनिकोड.😀.שלום.",
        "a" * 255,
    ],
    ids=["clevertap-like", "trailing-dot", "dots-only", "spaces", "unicode", "255-chars"],
)
def test_message_id_is_stored_and_echoed_byte_for_byte(http, gateway, engine, message_id):
    other = "r" + message_id[1:]  # as long, for the rejected record
    answer = send(
        http,
        gateway,
        {
            "messages": [
                {"to": NUMBER, "body": "hi", "message_id": message_id},
                {"to": "123", "body": "hi", "message_id": other},
            ]
        },
    )

    assert answer.status_code == 202
    assert answer.json()["rejected"][0]["message_id"] == other
    rows = stored(engine)
    assert rows[message_id]["message_id"].encode() == message_id.encode()
    assert rows[other]["message_id"].encode() == other.encode()


def test_a_message_id_is_echoed_whole_even_where_it_holds_a_configured_secret(
    http, gateway, engine
):
    # A vendor password of a few digits can well appear inside CleverTap's ids.
    message_id = "9999999999.secret-password.1654002362."
    answer = send(
        http,
        gateway,
        {"to": "123", "body": "hi", "message_id": message_id, "secret-password": "\u0000"},
    )

    [rejected] = answer.json()["rejected"]
    assert rejected["message_id"] == message_id
    assert "secret-password" not in rejected["error"]


@pytest.mark.parametrize("message_id", [None, ""], ids=["absent", "empty"])
def test_record_without_message_id_is_accepted_with_a_generated_id_as_untracked(
    http, gateway, engine, message_id
):
    record = {"to": NUMBER, "body": "no id"}
    if message_id is not None:
        record["message_id"] = message_id
    answer = send(
        http, gateway, {"messages": [record, {"to": NUMBER, "body": "id", "message_id": "k"}]}
    )

    assert answer.status_code == 202
    assert answer.json() == {"accepted": 2, "duplicates": 0, "untracked": 1, "rejected": []}
    rows = stored(engine)
    generated = [row for key, row in rows.items() if key != "k"]
    assert len(generated) == 1
    assert generated[0]["tracked"] is False
    assert generated[0]["message_id"].startswith("smsgate-")
    assert rows["k"]["tracked"] is True


def test_the_same_record_without_message_id_sent_twice_is_two_messages(http, gateway, engine):
    for _ in range(2):
        assert send(http, gateway, {"to": NUMBER, "body": "no id"}).json()["untracked"] == 1

    assert len(stored(engine)) == 2


def test_rejected_records_are_answered_by_index_and_stored_failed_when_they_have_an_id(
    http, gateway, engine
):
    answer = send(
        http,
        gateway,
        {
            "messages": [
                {"to": NUMBER, "body": "fine", "message_id": "ok."},
                {"to": "12", "body": "bad number", "message_id": "bad-number."},
                {"to": NUMBER, "message_id": "no-body."},
                {"to": 98765.5, "body": "float to", "message_id": "float-to."},
                {"body": "no to", "message_id": "no-to."},
                {"to": "12", "body": "no id either"},
            ]
        },
    )

    assert answer.status_code == 202
    result = answer.json()
    assert (result["accepted"], result["duplicates"], result["untracked"]) == (1, 0, 0)
    assert [(r["index"], r["message_id"]) for r in result["rejected"]] == [
        (1, "bad-number."),
        (2, "no-body."),
        (3, "float-to."),
        (4, "no-to."),
        (5, None),
    ]
    errors = [r["error"] for r in result["rejected"]]
    assert "phone number" in errors[0]
    assert "`body`" in errors[1] and "`template_id`" in errors[1]
    assert "`to` must be a string" in errors[2]
    assert "`to` is missing" in errors[3]

    rows = stored(engine)
    assert set(rows) == {"ok.", "bad-number.", "no-body.", "float-to.", "no-to."}
    failed = {key: row for key, row in rows.items() if key != "ok."}
    assert {key: row["status"] for key, row in failed.items()} == dict.fromkeys(failed, "failed")
    assert {key: row["failure_code"] for key, row in failed.items()} == {
        "bad-number.": "910",
        "no-body.": "900",
        "float-to.": "900",
        "no-to.": "900",
    }
    assert rows["bad-number."]["raw_to"] == "12"
    by_pk = {row["id"]: key for key, row in rows.items()}
    rejected = {by_pk[e["message_pk"]]: (e["kind"], e["code"]) for e in events(engine)}
    assert rejected == {
        "bad-number.": ("rejected", "910"),
        "no-body.": ("rejected", "900"),
        "float-to.": ("rejected", "900"),
        "no-to.": ("rejected", "900"),
    }


def test_request_whose_records_are_all_rejected_is_a_400_that_still_lists_them(
    http, gateway, engine
):
    answer = send(http, gateway, {"to": "12", "body": "x", "message_id": "only-bad."})

    assert answer.status_code == 400
    result = answer.json()
    assert result["error"] == "no valid record in the request"
    assert (result["accepted"], result["duplicates"], result["untracked"]) == (0, 0, 0)
    assert result["rejected"][0]["message_id"] == "only-bad."
    assert stored(engine)["only-bad."]["failure_code"] == "910"


def test_a_202_means_the_rows_are_committed(http, gateway, database_url):
    answer = send(http, gateway, {"to": NUMBER, "body": "durable", "message_id": "d.1."})
    assert answer.status_code == 202

    # A new engine has no connection that could see uncommitted work.
    fresh = create_engine(database_url)
    try:
        assert stored(fresh)["d.1."]["body"] == "durable"
    finally:
        fresh.dispose()


def test_head_request_is_refused_and_sends_nothing(http, gateway, engine):
    answer = http.head(
        f"{gateway.url}/clevertap/pingbix-in",
        params={"to": NUMBER, "body": "x", "message_id": "h.1."},
        headers=AUTH,
    )

    assert answer.status_code == 405
    assert stored(engine) == {}


def test_a_full_batch_of_1000_records_is_accepted(http, gateway, engine):
    records = [
        {"to": f"98765{i:05d}", "body": f"message {i}", "message_id": f"b.{i}."}
        for i in range(1000)
    ]
    answer = send(http, gateway, {"template_id": "T", "messages": records})

    assert answer.status_code == 202
    assert answer.json() == {"accepted": 1000, "duplicates": 0, "untracked": 0, "rejected": []}
    rows = stored(engine)
    assert len(rows) == 1000
    assert rows["b.999."]["to"] == "+919876500999"


def test_rejected_record_among_good_ones_leaves_the_good_ones_accepted(http, gateway, engine):
    answer = send(
        http,
        gateway,
        content=b'{"messages": [{"to": "+919876543210", "body": "\\ud800"},'
        b' {"to": "+919876543210", "body": "fine", "message_id": "fine."}]}',
        headers={"content-type": "application/json"},
    )

    assert answer.status_code == 202
    assert answer.json()["accepted"] == 1
    assert "surrogate" in answer.json()["rejected"][0]["error"]
    assert set(stored(engine)) == {"fine."}


def test_a_batch_the_database_refuses_is_a_503_that_stores_nothing(
    http, gateway, engine, database_url
):
    # A schema migrated back under the process: the rejected record's CleverTap row no
    # longer fits the relay outbox. CleverTap retries a 503; a 500 would lose the batch.
    downgrade(database_url, "0004")
    try:
        answer = send(
            http,
            gateway,
            {
                "messages": [
                    {"to": NUMBER, "body": "hi", "message_id": "m.1."},
                    {"to": "12", "body": "hi", "message_id": "m.2."},
                ]
            },
        )
        kept = stored(engine)
    finally:
        upgrade(database_url)

    assert answer.status_code == 503
    assert "nothing was stored" in answer.json()["error"]
    assert kept == {}


HINDI_TEMPLATE = (
    "आपका कोड {#var#} है। यह {#var#} मिनट तक मान्य है। "
    "कृपया इसे किसी के साथ साझा न करें, हमारी टीम कभी नहीं पूछेगी।"
)
TEMPLATES = f"""
[providers.pingbix-in.options.templates]
"1107000000000000001" = "{HINDI_TEMPLATE}"
"""


def test_a_template_only_record_is_counted_as_the_text_its_template_makes(
    http, make_config, database_url, engine
):
    # A segment-based rate limit spends what the vendor will deliver, not one GSM-7 part.
    config = make_config(database_url, extra=NO_DISPATCH + TEMPLATES)
    records = [
        {"to": NUMBER, "template_id": "1107000000000000001", "template_variables": "4321|10"},
        {"to": NUMBER, "template_id": "1107000000000000009", "template_variables": "x"},
    ]
    with ServerThread(create_app(config)) as server:
        answer = send(
            http,
            server,
            {"messages": [{**r, "message_id": f"t{i}."} for i, r in enumerate(records)]},
        )

    assert answer.status_code == 202
    rows = stored(engine)
    assert (rows["t0."]["encoding"], rows["t0."]["segments"]) == ("ucs2", 2)
    # A template the options do not list: accepted as before, refused when it is sent.
    assert (rows["t1."]["encoding"], rows["t1."]["segments"]) == ("gsm7", 1)
