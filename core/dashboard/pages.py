"""The dashboard's pages: what an operator reads."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import urlencode

from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from smsgate.admin import queries, stats
from smsgate.admin.actions import GIVEN_UP
from smsgate.dashboard.render import page
from smsgate.dashboard.session import login_redirect, signed_in
from smsgate.delivery.lookup import stale_messages
from smsgate.errors import RequestError
from smsgate.host.api import countries, message_detail, message_filter
from smsgate.host.bodies import parse_query
from smsgate.host.gateway import Gateway
from smsgate.host.redaction import hide_secrets
from smsgate.storage.models import MessageStatus, utcnow

__all__ = ["guarded", "message", "messages", "overview", "relays", "unknown"]

Handler = Callable[[Request], Awaitable[Response]]
_T = TypeVar("_T")
RELAY_TABS = (("dead", "Dead"), (GIVEN_UP, "Given up"), ("pending", "Pending"), ("done", "Done"))
STATUSES = [status.value for status in MessageStatus]


def guarded(handler: Handler, *, public: bool = False) -> Handler:
    """Pages need a session (unless ``public``); refusals and database trouble become pages.

    POSTs check the session themselves (with their CSRF token) and answer 403 without one.
    """

    async def page_or_refusal(request: Request) -> Response:
        if not public and request.method in ("GET", "HEAD") and not signed_in(request):
            return login_redirect(request)
        try:
            return await handler(request)
        except RequestError as exc:
            return page(
                request,
                "error.html",
                {"status": exc.status_code, "error": exc.message},
                status_code=exc.status_code,
            )
        except SQLAlchemyError:
            return page(
                request,
                "error.html",
                {"status": 503, "error": "The database did not answer. Try again shortly."},
                status_code=503,
            )

    page_or_refusal.__name__ = handler.__name__
    page_or_refusal.__doc__ = handler.__doc__
    return page_or_refusal


def _gateway(request: Request) -> Gateway:
    gateway: Gateway = request.app.state.gateway
    return gateway


async def _db(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    return await run_in_threadpool(function, *args, **kwargs)


def _cursor(query: dict[str, str]) -> int | None:
    raw = query.get("cursor", "").strip()
    if not raw:
        return None
    try:
        return queries.decode_cursor(raw)
    except ValueError:
        raise RequestError(400, "That page link is not valid any more; start again.") from None


async def overview(request: Request) -> Response:
    """``/dashboard/``: every nickname's figures."""
    gateway = _gateway(request)
    figures = await _db(stats.overview, gateway.engine, gateway.config, utcnow())
    return page(request, "overview.html", {"section": "overview", "figures": figures})


async def messages(request: Request) -> Response:
    """``/dashboard/messages``: search by number, message id, campaign, status and time."""
    gateway = _gateway(request)
    query = parse_query(request.scope["query_string"])
    # Shown in the boxes and their links: masked whole, before the cut could split a secret.
    form = {
        key: hide_secrets(query.get(key, ""))[:255]
        for key in ("number", "message_id", "campaign_id", "nickname", "status", "since", "until")
    }
    context: dict[str, Any] = {
        "section": "messages",
        "form": form,
        "nicknames": sorted(gateway.config.providers),
        "statuses": STATUSES,
        "error": None,
        "results": None,
        "summary": None,
    }
    try:
        filters = message_filter(query)
        cursor = _cursor(query)
    except RequestError as exc:
        context["error"] = exc.message
        return page(request, "messages.html", context, status_code=400)
    where = countries(gateway)
    context["results"] = await _db(
        queries.search_messages, gateway.engine, filters, countries=where, cursor=cursor
    )
    if filters.narrowed and cursor is None:
        context["summary"] = await _db(
            queries.count_by_status, gateway.engine, filters, countries=where
        )
    context["next_url"] = _next_url(request, context["results"].next_cursor)
    return page(request, "messages.html", context)


async def message(request: Request) -> Response:
    """``/dashboard/messages/{id}``: one message, its timeline and its CleverTap records."""
    gateway = _gateway(request)
    raw = request.path_params["id"]
    pk = queries.parse_id(raw) or 0
    detail = await _db(message_detail, gateway, pk) if pk else None
    if detail is None:
        # Masked before quoting, which escapes a quote inside a secret.
        raise RequestError(404, f"There is no message {hide_secrets(raw)[:40]!r}.")
    return page(
        request,
        "message.html",
        {"section": "messages", "message": detail, "back": request.url.path},
    )


async def relays(request: Request) -> Response:
    """``/dashboard/relays``: records for CleverTap, dead ones first."""
    gateway = _gateway(request)
    query = parse_query(request.scope["query_string"])
    state = query.get("state", "dead")
    if state not in dict(RELAY_TABS):
        raise RequestError(400, f"There is no list of {hide_secrets(state)[:40]!r} records.")
    try:
        # Checked as the API checks it: PostgreSQL refuses a NUL, which is no outage.
        nickname = queries.clean_text(query.get("nickname"), "nickname")
    except ValueError as exc:
        raise RequestError(400, f"The {exc}.") from None
    found = await _db(
        queries.list_relays,
        gateway.engine,
        states=(state,),
        nickname=nickname,
        cursor=_cursor(query),
    )
    return page(
        request,
        "relays.html",
        {
            "section": "relays",
            "state": state,
            "tabs": RELAY_TABS,
            "nickname": nickname or "",
            "nicknames": sorted(gateway.config.providers),
            "results": found,
            "next_url": _next_url(request, found.next_cursor),
            "back": _here(request),
        },
    )


async def unknown(request: Request) -> Response:
    """``/dashboard/unknown``: messages whose fate nobody knows, and stale submitted ones."""
    gateway = _gateway(request)
    query = parse_query(request.scope["query_string"])
    found = await _db(
        queries.search_messages,
        gateway.engine,
        queries.MessageFilter(statuses=(MessageStatus.UNKNOWN.value,)),
        cursor=_cursor(query),
    )
    settings = gateway.config.settings.gateway
    give_up = settings.dispatch.validity + settings.delivery.lookup_grace
    # The unknown ones are listed above; asked for with them, a hundred old unknown
    # messages would leave no room for the stale submitted ones.
    stale = await _db(
        stale_messages, gateway.engine, utcnow(), give_up=give_up, limit=100, with_unknown=False
    )
    return page(
        request,
        "unknown.html",
        {
            "section": "unknown",
            "results": found,
            "stale": stale,
            "stale_after": give_up,
            "next_url": _next_url(request, found.next_cursor),
            "back": _here(request),
        },
    )


def _here(request: Request) -> str:
    query = urlencode(_query_shown(request))
    return request.url.path + (f"?{query}" if query else "")


def _next_url(request: Request, cursor: str | None) -> str | None:
    if cursor is None:
        return None
    return request.url.path + "?" + urlencode({**_query_shown(request), "cursor": cursor})


def _query_shown(request: Request) -> dict[str, str]:
    # A page writes its own query into its links and forms, URL-encoded, where a secret
    # would no longer be recognised: masked first, like everything else on the page.
    return {key: hide_secrets(value) for key, value in request.query_params.items()}
