"""Signing in with the admin token: the cookie, CSRF, and nothing for anyone else."""

from __future__ import annotations

import base64
import json
import time

import httpx
import itsdangerous
import pytest
from conftest import TOKEN, ServerThread
from message_builders import accept, message, texts
from operations_helpers import ADMIN_CONFIG, ADMIN_TOKEN, admin_config, csrf_of, dashboard_client
from pydantic import SecretStr

from smsgate.dashboard.session import MAX_AGE, session_key
from smsgate.host.app import create_app
from smsgate.host.auth import FAILURE_LIMIT, FAILURE_WINDOW
from smsgate.storage.models import utcnow


@pytest.fixture
def server(make_config, database_url):
    with ServerThread(create_app(admin_config(make_config, database_url))) as running:
        yield running


def test_login_sets_a_signed_httponly_strict_cookie_for_the_dashboard_only(server):
    answer = httpx.post(f"{server.url}/dashboard/login", data={"token": ADMIN_TOKEN})

    assert answer.status_code == 303 and answer.headers["location"] == "/dashboard/"
    cookie = answer.headers["set-cookie"].lower()
    assert cookie.startswith("smsgate_session=")
    for flag in ("httponly", "samesite=strict", "path=/dashboard", "max-age=43200"):
        assert flag in cookie
    assert ADMIN_TOKEN not in answer.headers["set-cookie"]


def test_behind_https_the_cookie_is_secure(make_config, database_url):
    config = make_config(database_url, extra=ADMIN_CONFIG, admin_token=ADMIN_TOKEN)
    assert config.settings.gateway.public_url.startswith("https://")
    with ServerThread(create_app(config)) as server:
        answer = httpx.post(f"{server.url}/dashboard/login", data={"token": ADMIN_TOKEN})
    assert "secure" in answer.headers["set-cookie"].lower()


@pytest.mark.parametrize("token", ["", "wrong", TOKEN, ADMIN_TOKEN + "x", ADMIN_TOKEN[:-1]])
def test_a_wrong_token_gets_no_page_and_no_data(server, engine, token):
    accept(engine, texts(1, campaign="secret-campaign"), utcnow())

    answer = httpx.post(f"{server.url}/dashboard/login", data={"token": token})

    assert answer.status_code == 401
    assert "set-cookie" not in answer.headers
    assert "not the admin token" in answer.text
    assert "secret-campaign" not in answer.text and "m1." not in answer.text


def test_pages_without_a_session_send_to_the_login(server, engine):
    accept(engine, texts(1), utcnow())
    for path in (
        "/dashboard/",
        "/dashboard/messages",
        "/dashboard/messages/1",
        "/dashboard/relays",
    ):
        answer = httpx.get(f"{server.url}{path}")
        assert answer.status_code == 303
        assert answer.headers["location"].startswith("/dashboard/login?next=")
        assert "m1." not in answer.text
    forged = httpx.get(
        f"{server.url}/dashboard/", cookies={"smsgate_session": "eyJjc3JmIjogIngifQ==.x.y"}
    )
    assert forged.status_code == 303


def test_a_session_from_another_admin_token_is_worthless(server, make_config, database_url):
    other = make_config(database_url, extra=ADMIN_CONFIG, admin_token="another-admin-token-99")
    with ServerThread(create_app(other)) as second:
        stolen = dashboard_client(second.url, "another-admin-token-99")
        cookie = stolen.cookies["smsgate_session"]
        stolen.close()
    answer = httpx.get(f"{server.url}/dashboard/", cookies={"smsgate_session": cookie})
    assert answer.status_code == 303


def test_actions_need_the_sessions_csrf_token(server, engine):
    accept(engine, texts(1), utcnow())
    client = dashboard_client(server.url)
    try:
        csrf = csrf_of(client.get("/dashboard/messages/1").text)
        missing = client.post("/dashboard/messages/1/cancel", data={})
        wrong = client.post("/dashboard/messages/1/cancel", data={"csrf": "x" * 43})
        cross = client.post(
            "/dashboard/messages/1/cancel",
            data={"csrf": csrf},
            headers={"Sec-Fetch-Site": "cross-site"},
        )
        anonymous = httpx.post(f"{server.url}/dashboard/messages/1/cancel", data={"csrf": csrf})
        assert [r.status_code for r in (missing, wrong, cross, anonymous)] == [403] * 4
        done = client.post("/dashboard/messages/1/cancel", data={"csrf": csrf, "code": "900"})
        assert done.status_code == 303
        assert "failed with code 900" in client.get(done.headers["location"]).text
    finally:
        client.close()


def test_logout_ends_the_session(server):
    client = dashboard_client(server.url)
    try:
        csrf = csrf_of(client.get("/dashboard/").text)
        assert client.post("/dashboard/logout", data={"csrf": csrf}).status_code == 303
        assert client.get("/dashboard/").status_code == 303
    finally:
        client.close()


def test_the_login_goes_back_only_to_a_dashboard_page(server):
    for target, expected in [
        ("/dashboard/relays", "/dashboard/relays"),
        ("https://evil.example/", "/dashboard/"),
        ("//evil.example/", "/dashboard/"),
        ("/dashboard//evil.example", "/dashboard/"),
    ]:
        answer = httpx.post(
            f"{server.url}/dashboard/login", data={"token": ADMIN_TOKEN, "next": target}
        )
        assert answer.headers["location"] == expected, target


def test_without_an_admin_token_the_dashboard_is_off(make_config, database_url):
    with ServerThread(create_app(make_config(database_url, extra=ADMIN_CONFIG))) as server:
        answer = httpx.get(f"{server.url}/dashboard/")
        login = httpx.post(f"{server.url}/dashboard/login", data={"token": ""})
    assert answer.status_code == 404 and "admin_token" in answer.text
    assert login.status_code == 404


def logged_in_at(at: int) -> dict[str, str]:
    """The cookie a login at Unix time ``at`` makes: what its holder kept, however old."""
    data = base64.b64encode(json.dumps({"csrf": "c" * 43, "at": at}).encode())
    signed = itsdangerous.TimestampSigner(session_key(SecretStr(ADMIN_TOKEN))).sign(data)
    return {"smsgate_session": signed.decode()}


def test_a_session_ends_twelve_hours_after_its_login(server, engine):
    accept(engine, texts(1), utcnow())
    now = int(time.time())
    with httpx.Client(base_url=server.url, cookies=logged_in_at(now - 60)) as recent:
        assert recent.get("/dashboard/messages/1").status_code == 200

    with httpx.Client(base_url=server.url, cookies=logged_in_at(now - MAX_AGE - 1)) as kept:
        page = kept.get("/dashboard/messages/1")
        cancel = kept.post("/dashboard/messages/1/cancel", data={"csrf": "c" * 43})

    assert page.status_code == 303 and page.headers["location"].startswith("/dashboard/login")
    assert "m1." not in page.text
    assert "1970" in page.headers["set-cookie"]  # the ended session's cookie is cleared
    assert cancel.status_code == 403 and "session has ended" in cancel.text
    assert message(engine, "m1.").status == "accepted"


def test_using_a_session_does_not_make_it_last_longer(server):
    at = int(time.time()) - MAX_AGE + 2
    # An action leaves a message for the next page: the cookie comes back signed anew.
    used = httpx.post(
        f"{server.url}/dashboard/relays/action",
        data={"csrf": "c" * 43, "action": "retry_relay", "back": "/dashboard/relays"},
        cookies=logged_in_at(at),
    )
    assert used.status_code == 303
    assert "max-age=43200" in used.headers["set-cookie"].lower()
    renewed = {"smsgate_session": used.cookies["smsgate_session"]}
    assert httpx.get(f"{server.url}/dashboard/", cookies=renewed).status_code == 200

    time.sleep(max(0.0, at + MAX_AGE - time.time()) + 0.2)

    assert httpx.get(f"{server.url}/dashboard/", cookies=renewed).status_code == 303


def wrong_logins(url, count, **client):
    with httpx.Client(base_url=url, **client) as http:
        return [
            http.post("/dashboard/login", data={"token": f"guess-{n:04d}"}).status_code
            for n in range(count)
        ]


def test_too_many_wrong_logins_from_one_address_are_refused_for_a_while(server):
    assert wrong_logins(server.url, FAILURE_LIMIT) == [401] * FAILURE_LIMIT

    refused = httpx.post(f"{server.url}/dashboard/login", data={"token": "guess-last"})
    right = httpx.post(f"{server.url}/dashboard/login", data={"token": ADMIN_TOKEN})

    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= FAILURE_WINDOW
    assert "Too many wrong tokens" in refused.text
    # Checking the right token now would tell a guess from the right one at full speed.
    assert right.status_code == 429 and "set-cookie" not in right.headers
    # Another address is not held back by this one's failures.
    other = httpx.Client(
        base_url=server.url, transport=httpx.HTTPTransport(local_address="127.0.0.2")
    )
    with other:
        assert other.post("/dashboard/login", data={"token": ADMIN_TOKEN}).status_code == 303


def test_right_logins_and_empty_forms_do_not_count_as_wrong_tokens(server):
    for _ in range(FAILURE_LIMIT + 5):
        assert httpx.post(f"{server.url}/dashboard/login", data={"token": ADMIN_TOKEN}).is_redirect
        empty = httpx.post(f"{server.url}/dashboard/login", data={"token": ""})
        assert empty.status_code == 401

    assert wrong_logins(server.url, FAILURE_LIMIT) == [401] * FAILURE_LIMIT
