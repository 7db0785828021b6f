"""A (nickname, message_id) is stored once, however often and however concurrently it comes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from conftest import TOKEN, ConfigFactory, ServerThread

from smsgate.host.app import create_app
from smsgate.storage.models import Message, MessageEvent

MESSAGES = Message.__table__  # type: ignore[attr-defined]
EVENTS = MessageEvent.__table__  # type: ignore[attr-defined]
# Dispatch workers would move stored rows on; these tests look at the rows as accepted.
NO_DISPATCH = "[gateway.dispatch]\nenabled = false\n"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
NUMBER = "+91 98765 43210"

SECOND_PROVIDER = f"""
[providers.second]
plugin = "pingbix"
token = "{TOKEN}-second"
callback_token = "second-dlr-token-0123"
clevertap_callback_url = "http://127.0.0.1:9/sms/generic?account=SECOND"
default_country = "IN"

[providers.second.options]
userid = "acme2"
password = "secret-password-2"
senderid = "ACMETW"
"""


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
    http: httpx.Client, url: str, payload: Any, nickname: str = "pingbix-in", token: str = TOKEN
) -> Any:
    answer = http.post(
        f"{url}/clevertap/{nickname}",
        json=payload,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
    )
    assert answer.status_code == 202, answer.text
    return answer.json()


def rows(engine: sa.Engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        result = connection.execute(sa.select(MESSAGES).order_by(MESSAGES.c.id)).mappings()
        return [dict(row) for row in result]


def test_same_message_id_sent_twice_is_stored_once_and_answered_as_duplicate(http, gateway, engine):
    first = send(http, gateway.url, {"to": NUMBER, "body": "first", "message_id": "dup.1."})
    second = send(http, gateway.url, {"to": NUMBER, "body": "second", "message_id": "dup.1."})

    assert first == {"accepted": 1, "duplicates": 0, "untracked": 0, "rejected": []}
    assert second == {"accepted": 0, "duplicates": 1, "untracked": 0, "rejected": []}
    stored = rows(engine)
    assert [(row["message_id"], row["body"]) for row in stored] == [("dup.1.", "first")]


def test_same_message_id_twice_in_one_batch_is_stored_once(http, gateway, engine):
    answer = send(
        http,
        gateway.url,
        {
            "messages": [
                {"to": NUMBER, "body": "first", "message_id": "same."},
                {"to": NUMBER, "body": "other", "message_id": "other."},
                {"to": NUMBER, "body": "second", "message_id": "same."},
            ]
        },
    )

    assert answer == {"accepted": 2, "duplicates": 1, "untracked": 0, "rejected": []}
    assert {row["message_id"]: row["body"] for row in rows(engine)} == {
        "same.": "first",
        "other.": "other",
    }


@pytest.mark.parametrize("invalid_first", [False, True], ids=["valid-first", "invalid-first"])
def test_a_repeated_id_in_one_batch_is_a_duplicate_of_its_first_record_valid_or_not(
    http, gateway, engine, invalid_first
):
    # As across two requests: the first record with an id decides what becomes of it.
    valid = {"to": NUMBER, "body": "good", "message_id": "twice."}
    invalid = {"to": "12", "body": "bad", "message_id": "twice."}
    batch = [invalid, valid] if invalid_first else [valid, invalid]

    answer = send(http, gateway.url, {"messages": batch})

    [row] = rows(engine)
    assert answer["duplicates"] == 1
    if invalid_first:
        assert (answer["accepted"], len(answer["rejected"])) == (0, 1)
        assert (row["status"], row["failure_code"]) == ("failed", "910")
    else:
        assert (answer["accepted"], answer["rejected"]) == (1, [])
        assert (row["status"], row["body"]) == ("accepted", "good")


def test_a_rejected_message_id_sent_again_keeps_its_one_failure(http, gateway, engine):
    bad = {"to": "12", "body": "x", "message_id": "rej."}
    http.post(f"{gateway.url}/clevertap/pingbix-in", json=bad, headers=AUTH)
    answer = send(http, gateway.url, {"to": NUMBER, "body": "corrected", "message_id": "rej."})
    again = http.post(f"{gateway.url}/clevertap/pingbix-in", json=bad, headers=AUTH)

    assert answer["duplicates"] == 1
    assert again.status_code == 202
    assert again.json() == {"accepted": 0, "duplicates": 1, "untracked": 0, "rejected": []}
    [row] = rows(engine)
    assert (row["status"], row["failure_code"], row["body"]) == ("failed", "910", None)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() == 1


def test_a_bad_record_repeating_an_accepted_id_is_a_duplicate_not_a_reject(http, gateway, engine):
    # The stored message is still sent: answering "rejected" would tell CleverTap otherwise.
    send(http, gateway.url, {"to": NUMBER, "body": "good", "message_id": "acc."})
    alone = http.post(
        f"{gateway.url}/clevertap/pingbix-in",
        json={"to": "12", "body": "bad", "message_id": "acc."},
        headers=AUTH,
    )
    among_others = send(
        http,
        gateway.url,
        {
            "messages": [
                {"to": NUMBER, "body": "new", "message_id": "new."},
                {"to": "12", "body": "bad", "message_id": "acc."},
                {"to": "12", "body": "bad", "message_id": "bad."},
            ]
        },
    )

    assert alone.status_code == 202
    assert alone.json() == {"accepted": 0, "duplicates": 1, "untracked": 0, "rejected": []}
    assert (among_others["accepted"], among_others["duplicates"]) == (1, 1)
    assert [(r["index"], r["message_id"]) for r in among_others["rejected"]] == [(2, "bad.")]
    row = {r["message_id"]: r for r in rows(engine)}["acc."]
    assert (row["status"], row["body"], row["failure_code"]) == ("accepted", "good", None)


def test_a_rejected_record_does_not_touch_an_accepted_message_with_its_id(http, gateway, engine):
    send(http, gateway.url, {"to": NUMBER, "body": "good", "message_id": "acc."})
    http.post(
        f"{gateway.url}/clevertap/pingbix-in",
        json={"to": "12", "body": "bad", "message_id": "acc."},
        headers=AUTH,
    )

    [row] = rows(engine)
    assert (row["status"], row["body"], row["failure_code"]) == ("accepted", "good", None)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(EVENTS)).scalar() == 0


def test_same_message_id_under_two_nicknames_is_two_messages(
    http: httpx.Client, make_config: ConfigFactory, database_url: str, engine: sa.Engine
):
    config = make_config(database_url, extra=SECOND_PROVIDER + NO_DISPATCH)
    record = {"to": NUMBER, "body": "hi", "message_id": "shared."}
    with ServerThread(create_app(config)) as server:
        first = send(http, server.url, record)
        second = send(http, server.url, record, nickname="second", token=f"{TOKEN}-second")

    assert first["accepted"] == second["accepted"] == 1
    assert sorted((row["nickname"], row["message_id"]) for row in rows(engine)) == [
        ("pingbix-in", "shared."),
        ("second", "shared."),
    ]


@pytest.mark.parametrize("order", ["same-order", "opposite-order"])
def test_two_concurrent_requests_with_the_same_500_ids_store_each_once(gateway, engine, order):
    records = [
        {"to": f"98765{i:05d}", "body": f"message {i}", "message_id": f"c.{i:03d}."}
        for i in range(500)
    ]
    batches = [records, records if order == "same-order" else records[::-1]]
    barrier = threading.Barrier(len(batches))
    answers: list[Any] = [None] * len(batches)

    def post(slot: int) -> None:
        with httpx.Client(timeout=60) as own:  # a connection of its own, like CleverTap's
            barrier.wait()
            answers[slot] = send(own, gateway.url, {"template_id": "T", "messages": batches[slot]})

    threads = [threading.Thread(target=post, args=(slot,)) for slot in range(len(batches))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sum(answer["accepted"] for answer in answers) == 500
    assert sum(answer["duplicates"] for answer in answers) == 500
    assert all(answer["rejected"] == [] for answer in answers)
    stored = rows(engine)
    assert len(stored) == 500
    assert {row["message_id"] for row in stored} == {record["message_id"] for record in records}


def test_many_concurrent_requests_with_overlapping_ids_store_each_once(gateway, engine):
    # Eight senders, each with a different window over 300 ids, all at once.
    ids = [f"o.{i}." for i in range(300)]
    windows = [ids[k * 25 : k * 25 + 125] for k in range(8)]
    barrier = threading.Barrier(len(windows))
    answers: list[Any] = [None] * len(windows)

    def post(slot: int) -> None:
        batch = [{"to": NUMBER, "body": "x", "message_id": m} for m in windows[slot]]
        with httpx.Client(timeout=60) as own:
            barrier.wait()
            answers[slot] = send(own, gateway.url, {"messages": batch[:: 1 if slot % 2 else -1]})

    threads = [threading.Thread(target=post, args=(slot,)) for slot in range(len(windows))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    distinct = {m for window in windows for m in window}
    assert sum(answer["accepted"] for answer in answers) == len(distinct)
    assert sum(answer["accepted"] + answer["duplicates"] for answer in answers) == 8 * 125
    assert sorted(row["message_id"] for row in rows(engine)) == sorted(distinct)
