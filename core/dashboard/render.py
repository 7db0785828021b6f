"""Templates, their filters, and the headers every dashboard answer carries.

Every value a template shows goes through :func:`_shown` before autoescaping, which masks
the configured secrets in it: masked after escaping, a secret with ``&``, ``<``, ``>``,
``'`` or ``"`` in it would no longer match its escaped self and would show.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import jinja2
from jinja2.filters import do_urlencode
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from smsgate.host.redaction import hide_secrets, mask_all, mask_data

__all__ = ["SecurityHeaders", "environment", "page"]

#: Scripts and styles only from our own static files; no framing, no other origins.
CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
_HEADERS = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-frame-options", b"DENY"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
)


class SecurityHeaders:
    """ASGI middleware: the dashboard's headers, and no caching of pages with data."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Add the headers to every answer."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/dashboard/static/")

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                headers += _HEADERS
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")


def _ago(moment: datetime | None, now: datetime | None = None) -> str:
    if moment is None:
        return "—"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    if seconds < 0:
        return "in " + _span(-seconds)
    return _span(seconds) + " ago"


def _span(seconds: float) -> str:
    if seconds < 60:
        return f"{int(seconds)} s"
    if seconds < 3600:
        return f"{int(seconds // 60)} min"
    hours = seconds / 3600
    if hours < 10:
        return f"{hours:.1f} h"
    if hours < 72:
        return f"{hours:.0f} h"
    return f"{seconds / 86400:.1f} d"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 60:
        return f"{value:.1f} s"
    return _span(value)


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    shown = math.floor(value * 1000) / 10
    return f"{shown:.1f}%"


def _number(value: int | None) -> str:
    return "—" if value is None else f"{value:,}"


def _pretty(value: Any) -> str:
    return json.dumps(mask_data(value), indent=2, ensure_ascii=False, sort_keys=True, default=str)


def _secret_free(value: Any) -> Any:
    """``value`` with every secret masked, for a template that cuts or encodes it next."""
    if value is None or isinstance(value, Markup):
        return value
    return mask_all(value if isinstance(value, str | Mapping | list | tuple) else str(value))


def _urlencode(value: Any) -> str:
    # Masked before encoding, which would turn "&" in a secret into "%26".
    return do_urlencode(mask_all(value))


def _shown(value: Any) -> Any:
    """What ``{{ ... }}`` writes, before autoescaping: its text with every secret masked.

    Markup is what a macro of ours rendered, its own values masked already; numbers and
    ``None`` hold no secret.
    """
    if isinstance(value, Markup) or value is None or isinstance(value, int | float):
        return value
    return hide_secrets(value if isinstance(value, str) else str(value))


def environment() -> jinja2.Environment:
    """The dashboard's templates; everything rendered is escaped unless marked safe."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("smsgate.dashboard", "templates"),
        autoescape=True,
        finalize=_shown,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        when=_when,
        ago=_ago,
        seconds=_seconds,
        percent=_percent,
        number=_number,
        pretty=_pretty,
        secret_free=_secret_free,
        span=_span,
        urlencode=_urlencode,
    )
    return env


_ENV = environment()


def page(
    request: Request, template: str, context: dict[str, Any], *, status_code: int = 200
) -> Response:
    """Render ``template`` with the session's CSRF token, flash message and the nav state."""
    session = request.scope.get("session") or {}
    flash = session.pop("flash", None) if session else None
    values = {
        "request": request,
        "csrf": session.get("csrf", ""),
        "signed_in": bool(session.get("csrf")),
        "flash": flash,
        "now": datetime.now(UTC),
        "section": context.get("section", ""),
        **context,
    }
    # Whatever a template shows (a stored field, a search term echoed in its box, an error
    # quoting a parameter) was masked by _shown; this pass is a backstop for the template's
    # own text, and catches only a secret without characters that escaping changes.
    body = hide_secrets(_ENV.get_template(template).render(values))
    return HTMLResponse(body, status_code=status_code)
