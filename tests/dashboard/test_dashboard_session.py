"""Signing in with the admin token: the cookie, CSRF, and nothing for anyone else."""

from __future__ import annotations

import httpx
import pytest
from conftest import TOKEN, ServerThread
from message_builders import accept, texts
from operations_helpers import ADMIN_CONFIG, ADMIN_TOKEN, admin_config, csrf_of, dashboard_client

from smsgate.host.app import create_app
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
