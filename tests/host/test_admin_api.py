"""The admin JSON API: token, filters, pages, retry and cancel over real HTTP; never a 500."""

from __future__ import annotations

import httpx
import pytest
from conftest import TOKEN, ServerThread
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from message_builders import accept, dispatch, kill_relays, message, relays, texts
from operations_helpers import ADMIN_CONFIG, ADMIN_TOKEN

from smsgate.host.app import create_app
from smsgate.host.auth import FAILURE_LIMIT, FAILURE_WINDOW
from smsgate.storage.models import utcnow

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def server(make_config, database_url):
    config = make_config(database_url, extra=ADMIN_CONFIG, admin_token=ADMIN_TOKEN)
    with ServerThread(create_app(config)) as running:
        yield running


def get(server, path, **params):
    return httpx.get(f"{server.url}{path}", params=params, headers=ADMIN)


def post(server, path, body=None):
    return httpx.post(f"{server.url}{path}", json=body, headers=ADMIN)


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token-0123"}, {"Authorization": f"Bearer {TOKEN}"}],
)
def test_without_the_admin_token_there_is_no_data(server, engine, headers):
    accept(engine, texts(1), utcnow())

    for path in ("/api/messages", "/api/messages/1", "/api/stats", "/api/relays"):
        answer = httpx.get(f"{server.url}{path}", headers=headers)
        assert answer.status_code == 401
        assert answer.json() == {"error": answer.json()["error"]}
        assert "m1." not in answer.text
    assert httpx.post(f"{server.url}/api/messages/1/retry", headers=headers).status_code == 401


def test_wrong_admin_tokens_and_wrong_logins_together_are_refused_for_a_while(server):
    api_guesses = FAILURE_LIMIT // 2
    for n in range(api_guesses):
        wrong = {"Authorization": f"Bearer guess-{n:04d}"}
        assert httpx.get(f"{server.url}/api/stats", headers=wrong).status_code == 401
    for n in range(FAILURE_LIMIT - api_guesses):
        login = httpx.post(f"{server.url}/dashboard/login", data={"token": f"guess-{n:04d}"})
        assert login.status_code == 401

    refused = get(server, "/api/stats")  # the right token: not even checked now
    login = httpx.post(f"{server.url}/dashboard/login", data={"token": ADMIN_TOKEN})

    assert refused.status_code == 429 and "too many wrong" in refused.json()["error"]
    assert 0 < int(refused.headers["retry-after"]) <= FAILURE_WINDOW
    assert login.status_code == 429 and "set-cookie" not in login.headers


def test_no_token_and_the_right_token_are_never_held_back(server):
    for _ in range(2 * FAILURE_LIMIT):
        assert httpx.get(f"{server.url}/api/stats").status_code == 401
        assert get(server, "/api/stats").status_code == 200


def test_the_api_is_off_without_an_admin_token(make_config, database_url):
    with ServerThread(create_app(make_config(database_url, extra=ADMIN_CONFIG))) as server:
        answer = httpx.get(f"{server.url}/api/messages", headers=ADMIN)
    assert answer.status_code == 404
    assert "admin_token" in answer.json()["error"]


def test_messages_are_searched_and_paged_with_a_cursor(server, engine):
    now = utcnow()
    accept(
        engine,
        [*texts(5, campaign="diwali"), {"to": "+91 98765 43210", "body": "x", "message_id": "z."}],
        now,
    )

    found = get(server, "/api/messages", number="09876543210")
    assert [m["message_id"] for m in found.json()["items"]] == ["z."]
    first = get(server, "/api/messages", campaign_id="diwali", limit=3).json()
    second = get(
        server, "/api/messages", campaign_id="diwali", limit=3, cursor=first["next_cursor"]
    ).json()
    assert [m["message_id"] for m in first["items"] + second["items"]] == [
        "m5.",
        "m4.",
        "m3.",
        "m2.",
        "m1.",
    ]
    assert second["next_cursor"] is None
    assert get(server, "/api/messages", since="1h", status="accepted,failed").json()["items"]


def test_one_message_comes_with_its_timeline_and_actions(server, engine):
    now = utcnow()
    accept(engine, texts(1), now)
    dispatch(engine, now, failed={"m1.": "910"})
    pk = message(engine, "m1.").id

    detail = get(server, f"/api/messages/{pk}").json()

    assert detail["status"] == "failed" and detail["actions"] == ["retry"]
    assert [e["kind"] for e in detail["events"]] == ["sending", "failed"]
    assert detail["relays"][0]["record"]["code"] == "910"
    assert get(server, "/api/messages/999999").status_code == 404
    assert get(server, "/api/messages/abc").status_code == 404
    assert get(server, f"/api/messages/{2**64}").status_code == 404


def test_retry_and_cancel_over_http(server, engine):
    now = utcnow()
    accept(engine, texts(3), now)
    dispatch(engine, now, failed={"m1.": "905"}, unknown=["m2."])
    failed, lost, waiting = (message(engine, f"m{n}.").id for n in (1, 2, 3))

    retried = post(server, f"/api/messages/{failed}/retry")
    assert retried.status_code == 200
    assert retried.json()["message"]["status"] == "accepted"
    refused = post(server, f"/api/messages/{lost}/retry")
    assert refused.status_code == 409 and "resend_unknown" in refused.json()["error"]
    assert post(server, f"/api/messages/{lost}/retry", {"resend_unknown": True}).status_code == 200
    cancelled = post(server, f"/api/messages/{waiting}/cancel", {"code": "917"})
    assert cancelled.json()["message"]["failure_code"] == "917"
    assert post(server, f"/api/messages/{waiting}/cancel").status_code == 409
    assert post(server, f"/api/messages/{failed}/cancel", {"code": "911"}).status_code == 400
    assert post(server, f"/api/messages/{failed}/retry", {"resend": True}).status_code == 400


def test_a_secret_typed_into_a_cancel_reason_never_reaches_clevertap(server, engine):
    accept(engine, texts(1), utcnow())
    pk = message(engine, "m1.").id

    post(server, f"/api/messages/{pk}/cancel", {"description": f"pasted {TOKEN} by mistake"})

    [relay] = relays(engine)
    assert relay.record["description"] == "pasted **** by mistake"


def test_dead_relay_records_are_listed_retried_and_given_up(server, engine):
    now = utcnow()
    accept(engine, texts(2), now)
    dispatch(engine, now, failed={"m1.": "910", "m2.": "910"})
    first, second = kill_relays(engine, now, "CleverTap refused the batch (HTTP 400)")

    dead = get(server, "/api/relays").json()["items"]
    assert [r["id"] for r in dead] == [second, first]
    assert post(server, f"/api/relays/{first}/retry").json()["relay"]["state"] == "pending"
    assert post(server, f"/api/relays/{second}/give-up").json()["relay"]["state"] == "given_up"
    assert post(server, f"/api/relays/{second}/give-up").status_code == 409
    assert [r.state for r in relays(engine)] == ["pending", "given_up"]
    assert get(server, "/api/relays", state="given_up").json()["items"][0]["id"] == second


def test_stats_answer_per_nickname(server, engine):
    accept(engine, texts(2), utcnow())

    (nick,) = get(server, "/api/stats").json()["nicknames"]

    assert nick["nickname"] == "pingbix-in" and nick["queue_depth"] == 2
    assert nick["last_hour"]["counts"]["accepted"] == 2


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/api/messages", {"limit": "0"}),
        ("/api/messages", {"limit": "9" * 30}),
        ("/api/messages", {"cursor": "nope"}),
        ("/api/messages", {"since": "yesterday"}),
        ("/api/messages", {"status": "lost"}),
        ("/api/messages", {"number": "1\x002"}),
        ("/api/messages", {"message_id": "x" * 300}),
        ("/api/relays", {"state": "zombie"}),
    ],
)
def test_bad_parameters_are_400_with_the_reason(server, path, params):
    answer = get(server, path, **params)
    assert answer.status_code == 400
    assert answer.json()["error"]


def test_a_body_that_is_not_a_json_object_is_400(server, engine):
    accept(engine, texts(1), utcnow())
    pk = message(engine, "m1.").id
    for body in (b"[1]", b"{", b'"x"', b"\xff"):
        answer = httpx.post(f"{server.url}/api/messages/{pk}/cancel", content=body, headers=ADMIN)
        assert answer.status_code == 400, body


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "number",
                "message_id",
                "campaign_id",
                "nickname",
                "status",
                "since",
                "until",
                "limit",
                "cursor",
            ]
        ),
        st.text(max_size=40),
        max_size=4,
    )
)
def test_no_query_string_makes_a_500(server, params):
    answer = get(server, "/api/messages", **params)
    assert answer.status_code in (200, 400), answer.text
