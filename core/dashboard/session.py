"""Login with the admin token, the signed session cookie, and CSRF tokens.

The session is a cookie signed (itsdangerous, through Starlette's ``SessionMiddleware``)
with a key derived from the admin token: every process that shares the token accepts it,
and changing the token signs everybody out. The cookie is HttpOnly and SameSite=Strict,
Secure when ``public_url`` is https, scoped to ``/dashboard``. It holds no secret: a random
CSRF token and the login time. A session ends :data:`MAX_AGE` after its login, however much
it is used (the cookie is signed anew whenever the session changes, as after every action,
so the cookie's own age says nothing), and every request checks that.

Logging out clears the cookie in the browser; a copy of it taken before stays valid until
the session's end, since no process keeps a record of sessions (revoking one would need a
table of logged-out sessions, shared by every process through the database).

Wrong tokens at the login count against the client's address together with the admin API's
(:mod:`smsgate.host.auth`): too many, and the login answers 429 for a while.

Every POST of a signed-in page carries the CSRF token as a form field and is refused (403)
without the session's token; a request a browser marks as cross-site
(``Sec-Fetch-Site: cross-site``) is refused before that.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl, quote

from pydantic import SecretStr
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from smsgate.dashboard.render import page
from smsgate.errors import RequestError
from smsgate.host.auth import count_failure, failures_wait, same_secret
from smsgate.host.bodies import read_body

__all__ = [
    "COOKIE",
    "MAX_AGE",
    "check_post",
    "login",
    "login_form",
    "logout",
    "read_form",
    "session_key",
    "signed_in",
]

COOKIE = "smsgate_session"
#: Seconds a login lasts, from the login.
MAX_AGE = 12 * 3600
#: Seconds a login time may lie ahead of this process's clock: another process's may be ahead.
_CLOCK_SKEW = 300
_FORM_LIMIT = 64 * 1024
_MAX_FIELDS = 1000


def session_key(admin_token: SecretStr) -> str:
    """The cookie signing key: the admin token, through HMAC, never the token itself."""
    return hmac.new(
        admin_token.get_secret_value().encode(), b"smsgate dashboard session v1", hashlib.sha256
    ).hexdigest()


def signed_in(request: Request) -> bool:
    """Whether the request's session was opened by a login less than :data:`MAX_AGE` ago.

    A session that has ended is emptied, so that the answer clears its cookie.
    """
    session = request.scope.get("session")
    if not session:
        return False
    if _live(session):
        return True
    session.clear()
    return False


def _live(session: dict[str, Any]) -> bool:
    csrf, at = session.get("csrf"), session.get("at")
    if not isinstance(csrf, str) or len(csrf) < 32:
        return False
    # bool is an int too, and a session has no business holding one here.
    if not isinstance(at, int) or isinstance(at, bool):
        return False
    now = time.time()
    return now - MAX_AGE < at <= now + _CLOCK_SKEW


def _admin_token(request: Request) -> SecretStr:
    token = request.app.state.gateway.config.settings.gateway.admin_token
    assert token is not None, "the dashboard is mounted only with an admin token"
    return token  # type: ignore[no-any-return]


def _local(target: str | None) -> str:
    # Only a path of the dashboard itself: never another host, never a scheme.
    if (
        target
        and target.startswith("/dashboard/")
        and not target.startswith("/dashboard//")
        and "\\" not in target
        and all(32 < ord(char) < 127 for char in target)
    ):
        return target
    return "/dashboard/"


async def login_form(request: Request) -> Response:
    """``GET /dashboard/login``."""
    if signed_in(request):
        return RedirectResponse(_local(request.query_params.get("next")), status_code=303)
    return page(request, "login.html", {"next": _local(request.query_params.get("next"))})


async def login(request: Request) -> Response:
    """``POST /dashboard/login``: a right token opens a session; a wrong one shows nothing.

    While the client's address has too many wrong tokens, no token is checked: 429.
    """
    _same_site(request)
    form = dict(await read_form(request))
    presented = form.get("token", "").strip()
    target = _local(form.get("next"))
    wait = failures_wait(request)
    if wait:
        answer = page(
            request,
            "login.html",
            {"next": target, "error": f"Too many wrong tokens: try again in {wait} s."},
            status_code=429,
        )
        answer.headers["Retry-After"] = str(wait)
        return answer
    expected = _admin_token(request).get_secret_value()
    if not presented or not same_secret(presented, expected):
        if presented:
            count_failure(request)
        return page(
            request,
            "login.html",
            {"next": target, "error": "That is not the admin token."},
            status_code=401,
        )
    session = request.session
    session.clear()
    session["csrf"] = secrets.token_urlsafe(32)
    session["at"] = int(time.time())
    return RedirectResponse(target, status_code=303)


async def logout(request: Request) -> Response:
    """``POST /dashboard/logout``."""
    await check_post(request)
    request.session.clear()
    return RedirectResponse("/dashboard/login", status_code=303)


def login_redirect(request: Request) -> Response:
    """Send a visitor without a session to the login page, remembering where they were."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/dashboard/login?next={quote(_local(target))}", status_code=303)


def _same_site(request: Request) -> None:
    if request.headers.get("sec-fetch-site", "same-origin") not in ("same-origin", "none"):
        raise RequestError(403, "cross-site request refused")


async def read_form(request: Request) -> list[tuple[str, str]]:
    """The fields of a URL-encoded form, repeated names kept; a 400 for a broken body."""
    deadline = request.app.state.gateway.config.settings.gateway.body_timeout
    raw = await read_body(request, _FORM_LIMIT, deadline=deadline)
    try:
        return parse_qsl(
            raw.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=False,
            errors="strict",
            max_num_fields=_MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise RequestError(400, "the form cannot be read") from None


async def check_post(request: Request) -> list[tuple[str, str]]:
    """The form of a signed-in POST whose CSRF token is the session's; else 403."""
    _same_site(request)
    if not signed_in(request):
        raise RequestError(403, "your session has ended: sign in again")
    fields = await read_form(request)
    sent = _first(fields, "csrf")
    if not same_secret(sent, str(request.session["csrf"])):
        raise RequestError(403, "the form is stale or forged (CSRF token mismatch): reload it")
    return fields


def _first(fields: Sequence[tuple[str, str]], name: str) -> str:
    return next((value for key, value in fields if key == name), "")
