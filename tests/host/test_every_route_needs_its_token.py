"""Every route of the app, found by walking Starlette's routing table, refuses a request
without its token and one with a wrong token, and gives away no data when it does.

A route added later is in the table too: unless it is listed below as public, it must
refuse, so a new endpoint without a token check fails here.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Iterator

import httpx
import itsdangerous
import pytest
from conftest import TOKEN, ServerThread
from operations_helpers import ADMIN_TOKEN, admin_config
from pydantic import SecretStr
from starlette.routing import BaseRoute, Mount, Route

from smsgate.dashboard.session import session_key
from smsgate.host.app import create_app

WRONG = "wrong-token-0123456789"
# Stored through the real endpoint; no refusal may show any of it.
SEEDED = {"to": "+91 98765 43210", "body": "seeded-body-7731", "message_id": "seeded-id-7731."}
NO_DATA = ("seeded-body-7731", "seeded-id-7731", "9876543210")

#: What anyone may fetch: probes, metrics, the API's description, the login page and the
#: dashboard's static files. Everything else needs a token.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/metrics"),
    ("GET", "/api/openapi.json"),
    ("GET", "/dashboard"),
    ("GET", "/dashboard/login"),
    ("POST", "/dashboard/login"),
    ("GET", "/dashboard/static"),
}
PARAMETERS = {
    "nickname": "pingbix-in",
    "callback_token": WRONG,
    "id": "1",
    "action": "cancel",
    "path": "dashboard.css",
}


def endpoints(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path template) of every route, mounted ones included; HEAD goes with GET."""
    for route in routes:
        if isinstance(route, Mount):
            # Mount.routes sees through the mount's middleware; a plain app has none.
            inner = route.routes
            if not inner:
                yield "GET", prefix + route.path
            else:
                yield from endpoints(inner, prefix + route.path)
        elif isinstance(route, Route):
            for method in sorted((route.methods or {"GET"}) - {"HEAD"}):
                yield method, prefix + route.path
        else:
            pytest.fail(f"a route of a kind this test does not know: {route!r}")


def concrete(template: str) -> str:
    def value(match: re.Match[str]) -> str:
        return PARAMETERS.get(match[1], "1")

    return re.sub(r"{(\w+)(?::\w+)?}", value, template)


def forged_session(key: str) -> str:
    """A dashboard session cookie as a login would make it, signed with ``key``."""
    data = base64.b64encode(json.dumps({"csrf": "c" * 43, "at": int(time.time())}).encode())
    return itsdangerous.TimestampSigner(key).sign(data).decode()


@pytest.fixture
def server(make_config, database_url) -> Iterator[ServerThread]:
    with ServerThread(create_app(admin_config(make_config, database_url))) as running:
        seeded = httpx.post(
            f"{running.url}/clevertap/pingbix-in",
            json=SEEDED,
            headers={"Authorization": f"Bearer {TOKEN}"},
        )
        assert seeded.status_code == 202
        yield running


def expected_refusal(method: str, path: str) -> set[int]:
    """The contract's answer to a stranger: 401 for a token in a header, 404 for a token
    in the URL (so the URL tells nothing), the login page or 403 on the dashboard."""
    if path.startswith("/callbacks/"):
        return {404}
    if path.startswith("/dashboard"):
        return {303} if method == "GET" else {403}
    return {401}


def test_every_route_refuses_a_missing_or_wrong_token_and_shows_no_data(server):
    app = server.server.config.app
    found = list(endpoints(app.routes))
    guarded = [(m, p) for m, p in found if (m, p) not in PUBLIC]
    # The table really was walked: each door of the gateway is in it.
    templates = {path for _, path in guarded}
    assert {"/clevertap/{nickname}", "/callbacks/{nickname}/{callback_token}"} <= templates
    assert {"/api/messages", "/api/stats", "/dashboard/", "/dashboard/messages/{id}"} <= templates
    assert set(found) >= PUBLIC, "a public route went away: update PUBLIC"

    wrong_bearer = {"Authorization": f"Bearer {WRONG}"}
    wrong_basic = {"Authorization": "Basic " + base64.b64encode(f"x:{WRONG}".encode()).decode()}
    refusals = {}
    with httpx.Client(base_url=server.url, follow_redirects=False, timeout=30) as http:
        for method, template in guarded:
            path = concrete(template)
            for name, headers, cookies in (
                ("no token", {}, {}),
                ("wrong bearer", wrong_bearer, {}),
                ("wrong basic", wrong_basic, {}),
                ("forged session", {}, {"smsgate_session": forged_session(WRONG)}),
            ):
                http.cookies.clear()
                http.cookies.update(cookies)
                answer = http.request(
                    method,
                    path,
                    headers={**headers, "content-type": "application/json"},
                    content=json.dumps({**SEEDED, "message_id": "x."}),
                )
                refusals[(method, template, name)] = answer.status_code
                assert answer.status_code in expected_refusal(method, template), (
                    method,
                    path,
                    name,
                    answer.status_code,
                    answer.text[:200],
                )
                if answer.status_code == 303:
                    assert answer.headers["location"].startswith("/dashboard/login")
                for seeded in NO_DATA:
                    assert seeded not in answer.text, (method, path, name)

    # The forged cookie is refused for its key alone: signed with the right one, it opens.
    right = forged_session(session_key(SecretStr(ADMIN_TOKEN)))
    with httpx.Client(base_url=server.url, cookies={"smsgate_session": right}) as http:
        assert http.get("/dashboard/").status_code == 200

    # The refused request with the right shape stored nothing either.
    admin = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    listed = httpx.get(f"{server.url}/api/messages", headers=admin).json()
    assert [item["message_id"] for item in listed["items"]] == [SEEDED["message_id"]]
    assert len(refusals) == 4 * len(guarded)
