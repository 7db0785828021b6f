"""``/callbacks/{nickname}/{callback_token}``: where vendors push delivery reports.

The token is a path segment, compared in constant time; a wrong token and an unknown
nickname get the same 404, so the URL tells a stranger nothing. The body is read within
``max_body_bytes``. The nickname's plugin turns the request into events
(``parse_callback``); they are matched and stored in one transaction, shared with the
requests that arrive at the same time (:mod:`smsgate.delivery.grouping`), and the vendor
gets its 200 only once they are committed: also for a duplicate, and for a report about a
message not matched yet (it waits in the inbox). What the plugin cannot parse is a 400 with its
reason; a broken plugin or an unreachable database is a 503, which vendors retry. Nothing a
vendor sends can cause a 500.

The token would otherwise appear in the access log with every request:
:func:`smsgate.host.redaction.redact_logs` masks it there.
"""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy.exc import SQLAlchemyError
from starlette.requests import Request

from smsgate.config import Provider
from smsgate.delivery.reports import Report, normalise
from smsgate.errors import CallbackError, PluginHookError, RequestError
from smsgate.host.answers import Answer
from smsgate.host.auth import same_secret
from smsgate.host.bodies import media_type, parse_query, read_body
from smsgate.host.gateway import Gateway
from smsgate.storage.models import utcnow
from smsgate.types import CallbackRequest

__all__ = ["receive"]

logger = logging.getLogger(__name__)

#: Compared against when the nickname is unknown, so that both 404s take the same time.
_NO_TOKEN = SecretStr("-" * 48)
_NOT_FOUND = "no such callback URL: check the nickname and the callback token"


async def receive(request: Request) -> Answer:
    """Store the delivery reports in a vendor's request; 200 once they are committed."""
    gateway: Gateway = request.app.state.gateway
    provider = _provider(gateway, request)
    if provider.broken or provider.plugin is None or provider.options is None:
        raise RequestError(
            503, f"provider {provider.nickname!r} is unavailable: {provider.broken or 'broken'}"
        )
    if request.method == "HEAD":
        # A vendor checking that its URL works: it does, and nothing is stored.
        return Answer({"received": 0})
    settings = gateway.config.settings.gateway
    body = await read_body(request, settings.max_body_bytes, deadline=settings.body_timeout)
    callback = CallbackRequest(
        method=request.method,
        headers={key.lower(): value for key, value in request.headers.items()},
        # A stray byte that is not UTF-8 must not cost a message its report: the plugin
        # gets it as a lone surrogate, refused in the fields a report is judged by and
        # kept as an escape in the others.
        query=parse_query(request.scope["query_string"], undecodable="surrogateescape"),
        body=body,
        content_type=media_type(request),
    )
    secrets = gateway.secrets(provider)
    now = utcnow()
    # Parsing (the plugin's code) and storing are CPU and database work: off the event loop,
    # in one transaction with the reports of the requests that arrive meanwhile.
    try:
        received, stored = await gateway.reports.store(
            provider.nickname, functools.partial(_parse, provider, callback, secrets, now)
        )
    except SQLAlchemyError:
        logger.exception("delivery reports for %r could not be stored", provider.nickname)
        raise RequestError(503, "the database is unavailable; nothing was stored") from None
    delivery: Any = getattr(request.app.state, "delivery", None)
    if delivery is not None and stored.applied:
        delivery.notify()
    return Answer({"received": received, "matched": stored.matched, "waiting": stored.waiting})


def _provider(gateway: Gateway, request: Request) -> Provider:
    """The provider named in the path, if the token in the path is its callback token."""
    provider = gateway.config.providers.get(request.path_params["nickname"])
    expected = provider.settings.callback_token if provider is not None else _NO_TOKEN
    presented = request.path_params["callback_token"]
    if not same_secret(presented, expected) or provider is None:
        raise RequestError(404, _NOT_FOUND)
    return provider


def _parse(
    provider: Provider, callback: CallbackRequest, secrets: list[str], now: datetime
) -> list[Report]:
    assert provider.plugin is not None and provider.options is not None
    try:
        events = provider.plugin.parse_callback(callback, provider.options)
    except CallbackError as exc:
        raise RequestError(
            400, f"the report cannot be read: {_hide(exc.reason, secrets)}"
        ) from None
    except PluginHookError as exc:
        raise RequestError(400, f"the report cannot be read: {exc}") from None
    try:
        return [normalise(event, received_at=now, secrets=secrets) for event in events]
    except ValueError as exc:
        raise RequestError(
            400, f"the report cannot be read: plugin {provider.plugin.name!r}: {exc}"
        ) from None


def _hide(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, "****")
    return text
