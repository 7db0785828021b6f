"""CleverTap's token: Bearer, or Basic with the token as the password."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest
from conftest import TOKEN, ConfigFactory, ServerThread
from pydantic import SecretStr
from starlette.requests import Request

from smsgate.errors import RequestError
from smsgate.host.app import create_app
from smsgate.host.auth import presented_token, require_token, same_secret

RECORD = {"to": "+919876543210", "body": "hi"}


@pytest.fixture
def gateway(make_config: ConfigFactory, database_url: str) -> Iterator[ServerThread]:
    """The test gateway, without dispatch workers."""
    config = make_config(database_url, extra="[gateway.dispatch]\nenabled = false\n")
    with ServerThread(create_app(config)) as server:
        yield server


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def request_with(authorization: bytes | None) -> Request:
    headers = [] if authorization is None else [(b"authorization", authorization)]
    return Request({"type": "http", "method": "POST", "headers": headers})


@pytest.mark.parametrize(
    "authorization",
    [
        f"Bearer {TOKEN}",
        f"bearer {TOKEN}",
        f"Bearer   {TOKEN}",
        basic("clevertap", TOKEN),
        basic("", TOKEN),
        basic("üser", TOKEN),
        "basic " + base64.b64encode(f"x:{TOKEN}".encode()).decode(),
    ],
    ids=[
        "bearer",
        "lowercase-scheme",
        "padded",
        "basic",
        "basic-no-user",
        "basic-utf8-user",
        "basic-lc",
    ],
)
def test_the_token_is_accepted_as_bearer_or_as_the_basic_password(gateway, authorization):
    answer = httpx.post(
        f"{gateway.url}/clevertap/pingbix-in", json=RECORD, headers={"Authorization": authorization}
    )

    assert answer.status_code == 202, answer.text


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        f"Bearer {TOKEN[:-1]}X",
        f"Bearer {TOKEN[:-1]}",
        f"Bearer {TOKEN}X",
        f"Bearer {TOKEN.upper()}",
        basic(TOKEN, "wrong"),
        basic(TOKEN, ""),
        "Basic " + base64.b64encode(TOKEN.encode()).decode(),
        "Basic !!!",
        "Basic " + base64.b64encode(f"u:{TOKEN}".encode()).decode()[:-2],
        f"Token {TOKEN}",
        TOKEN,
    ],
    ids=[
        "absent",
        "empty",
        "bearer-without-token",
        "last-char-differs",
        "one-char-short",
        "one-char-long",
        "other-case",
        "token-as-basic-username",
        "basic-empty-password",
        "basic-without-colon",
        "basic-not-base64",
        "basic-truncated-base64",
        "other-scheme",
        "bare-token",
    ],
)
def test_a_missing_or_wrong_token_is_a_401_that_does_not_echo_it(gateway, authorization):
    headers = {} if authorization is None else {"Authorization": authorization}
    answer = httpx.post(f"{gateway.url}/clevertap/pingbix-in", json=RECORD, headers=headers)

    assert answer.status_code == 401
    error = answer.json()["error"]
    assert "Bearer" in error and "Basic" in error
    assert TOKEN not in answer.text


def test_the_token_is_checked_before_the_body_is_looked_at(gateway):
    answer = httpx.post(
        f"{gateway.url}/clevertap/pingbix-in",
        content=b"not even json",
        headers={"Authorization": "Bearer wrong", "content-type": "text/plain"},
    )

    assert answer.status_code == 401


def test_bearer_token_is_compared_as_the_bytes_that_were_sent():
    token = "tøken-ü"
    raw = f"Bearer {token}".encode()

    assert presented_token(request_with(raw)) == token.encode()
    require_token(request_with(raw), SecretStr(token))


def test_basic_password_may_contain_colons():
    raw = basic("user", "pass:with:colons").encode()

    assert presented_token(request_with(raw)) == b"pass:with:colons"


@pytest.mark.parametrize(
    "raw", [None, b"Basic \xff\xfe", b"Basic =", b"Digest abc", b"Bearer"], ids=repr
)
def test_unusable_headers_present_no_token_or_an_empty_one(raw):
    assert presented_token(request_with(raw)) in (None, b"")
    with pytest.raises(RequestError) as refused:
        require_token(request_with(raw), SecretStr(TOKEN))
    assert refused.value.status_code == 401


def test_url_tokens_match_only_when_equal():
    assert same_secret("dlr-token", SecretStr("dlr-token"))
    assert not same_secret("dlr-tokeX", SecretStr("dlr-token"))
    assert not same_secret("dlr-token\udcff", SecretStr("dlr-token"))
