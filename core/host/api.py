"""The admin JSON API under ``/api/``: messages, relay records, retry and cancel, figures.

Every route but ``/api/openapi.json`` needs the admin token (``Authorization: Bearer
<admin_token>``, or Basic auth with it as the password); without ``[gateway] admin_token``
the API is off (404). Answers are JSON; refusals are ``{"error": "..."}`` with 400 (a bad
parameter), 401 (no or wrong token), 404 (no such row), 409 (the row's state does not allow
the action; the error says why and what to do), 429 (too many wrong tokens from the client's
address, counted with the dashboard's login: see :mod:`smsgate.host.auth`; ``Retry-After``
says when to try again) or 503 (the database did not answer).

The routes are declared once, in :data:`OPERATIONS`: Starlette's routes and the OpenAPI
document (:mod:`smsgate.host.openapi`) are both built from it. What retry and cancel mean
for each state is in :mod:`smsgate.admin.actions`.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsgate.admin import actions, queries, stats
from smsgate.admin.durations import parse_moment
from smsgate.admin.views import (
    ActionResult,
    CancelRequest,
    MessageDetail,
    MessagePage,
    MessageSummary,
    Overview,
    RelayPage,
    RetryRequest,
)
from smsgate.errors import ActionRefusedError, RequestError
from smsgate.host.auth import count_failure, failures_wait, presented_token, same_secret
from smsgate.host.bodies import parse_query, read_body
from smsgate.host.gateway import Gateway
from smsgate.host.redaction import hide_secrets, mask_data
from smsgate.storage.models import MessageStatus, utcnow

__all__ = [
    "OPERATIONS",
    "Operation",
    "Parameter",
    "countries",
    "message_detail",
    "message_filter",
    "require_admin",
    "routes",
    "wake_relay",
]

Handler = Callable[[Request], Awaitable[Response]]
#: A text filter: what :func:`smsgate.admin.queries.clean_text` lets through.
_FILTER: Mapping[str, Any] = {
    "type": "string",
    "maxLength": queries.MAX_FILTER,
    "pattern": "^[^\\x00]*$",
}
_T = TypeVar("_T")
_BODY_LIMIT = 64 * 1024
RELAY_STATES = ("dead", "pending", "done", actions.GIVEN_UP)


@dataclass(frozen=True)
class Parameter:
    """A query or path parameter, as the OpenAPI document describes it."""

    name: str
    description: str
    #: What the handler accepts; every value this schema allows must get past its checks.
    schema: Mapping[str, Any] = field(default_factory=lambda: dict(_FILTER))
    where: Literal["query", "path"] = "query"


@dataclass(frozen=True)
class Operation:
    """One route of the API: what Starlette serves and what OpenAPI documents."""

    method: Literal["GET", "POST"]
    path: str
    handler: Handler
    summary: str
    description: str
    answer: type[BaseModel] | None
    parameters: tuple[Parameter, ...] = ()
    body: type[BaseModel] | None = None
    #: Refusals it can answer besides 401 and 503.
    refusals: tuple[int, ...] = (400,)
    public: bool = False


def require_admin(request: Request) -> Gateway:
    """The gateway, if the request carries the admin token; else a 401 (or 404 when off),
    or a 429 while the client's address has too many wrong tokens."""
    gateway: Gateway = request.app.state.gateway
    expected = gateway.config.settings.gateway.admin_token
    if expected is None:
        raise RequestError(404, "the admin API is off: set [gateway] admin_token to turn it on")
    wait = failures_wait(request)
    if wait:
        # HTTPException, not RequestError: its handler sends the Retry-After header along.
        raise HTTPException(
            429,
            f"too many wrong admin tokens from your address: try again in {wait} s",
            headers={"Retry-After": str(wait)},
        )
    token = presented_token(request)
    if token is None or not same_secret(token, expected):
        # No token at all is not a guess: only a wrong one counts towards the limit.
        if token:
            count_failure(request)
        raise RequestError(
            401, "missing or wrong admin token: send `Authorization: Bearer <admin_token>`"
        )
    return gateway


async def _in_thread(function: Callable[..., _T], *args: Any, **kwargs: Any) -> _T:
    try:
        return await run_in_threadpool(function, *args, **kwargs)
    except SQLAlchemyError:
        raise RequestError(503, "the database did not answer; try again") from None


def _answer(model: BaseModel, status_code: int = 200) -> JSONResponse:
    return JSONResponse(mask_data(model.model_dump(mode="json")), status_code=status_code)


def _query(request: Request) -> dict[str, str]:
    return parse_query(request.scope["query_string"])


def _text(query: Mapping[str, str], name: str) -> str | None:
    try:
        return queries.clean_text(query.get(name), name)
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None


def _limit(query: Mapping[str, str]) -> int:
    raw = query.get("limit", "").strip()
    if not raw:
        return queries.DEFAULT_LIMIT
    limit = queries.parse_id(raw)
    if limit is None or limit > queries.MAX_LIMIT:
        raise RequestError(400, f"limit must be a whole number from 1 to {queries.MAX_LIMIT}")
    return limit


def _cursor(query: Mapping[str, str]) -> int | None:
    raw = query.get("cursor", "").strip()
    if not raw:
        return None
    try:
        return queries.decode_cursor(raw)
    except ValueError as exc:
        raise RequestError(400, f"cursor: {exc}") from None


def _path_id(request: Request, what: str) -> int:
    raw = request.path_params["id"]
    pk = queries.parse_id(raw)
    if pk is None:
        raise RequestError(404, f"no {what} with id {raw[:40]!r}: ids are positive whole numbers")
    return pk


def message_filter(query: Mapping[str, str]) -> queries.MessageFilter:
    """The search filter a query string asks for; a 400 names a bad parameter."""
    now = utcnow()
    moments = {}
    for name in ("since", "until"):
        text = _text(query, name)
        try:
            moments[name] = parse_moment(text, now) if text else None
        except ValueError as exc:
            raise RequestError(400, f"{name}: {exc}") from None
    try:
        statuses = queries.parse_statuses(_text(query, "status"))
    except ValueError as exc:
        raise RequestError(400, f"status: {exc}") from None
    return queries.MessageFilter(
        nickname=_text(query, "nickname"),
        statuses=statuses,
        number=_text(query, "number"),
        message_id=_text(query, "message_id"),
        campaign_id=_text(query, "campaign_id"),
        since=moments["since"],
        until=moments["until"],
    )


def countries(gateway: Gateway) -> set[str | None]:
    """The configured default countries, to read national numbers in searches."""
    return {p.settings.default_country for p in gateway.config.providers.values()}


async def _body(request: Request, model: type[BaseModel]) -> Any:
    gateway: Gateway = request.app.state.gateway
    deadline = gateway.config.settings.gateway.body_timeout
    raw = await read_body(request, _BODY_LIMIT, deadline=deadline)
    data: Any = {}
    if raw.strip():
        try:
            data = json.loads(raw)
        except ValueError:
            raise RequestError(
                400, "the body is not JSON: send a JSON object, or nothing"
            ) from None
    if not isinstance(data, dict):
        raise RequestError(400, "the body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise RequestError(400, f"{where}: {first['msg']}") from None


# --- handlers -------------------------------------------------------------------------------


async def list_messages(request: Request) -> Response:
    """``GET /api/messages``."""
    gateway = require_admin(request)
    query = _query(request)
    filters, limit, cursor = message_filter(query), _limit(query), _cursor(query)
    page = await _in_thread(
        queries.search_messages,
        gateway.engine,
        filters,
        countries=countries(gateway),
        limit=limit,
        cursor=cursor,
    )
    return _answer(page)


async def show_message(request: Request) -> Response:
    """``GET /api/messages/{id}``."""
    gateway = require_admin(request)
    pk = _path_id(request, "message")
    detail = await _in_thread(message_detail, gateway, pk)
    if detail is None:
        raise RequestError(404, f"no message with id {pk}")
    return _answer(detail)


def message_detail(gateway: Gateway, pk: int) -> MessageDetail | None:
    """Message ``pk`` with its events, relay records and the actions open to it now."""
    detail = queries.get_message(gateway.engine, pk)
    if detail is not None:
        detail.actions = actions.available(
            detail.status,
            detail.to,
            detail.created_at,
            detail.next_attempt_at,
            now=utcnow(),
            validity=gateway.config.settings.gateway.dispatch.validity,
        )
    return detail


async def retry_message(request: Request) -> Response:
    """``POST /api/messages/{id}/retry``."""
    gateway = require_admin(request)
    pk = _path_id(request, "message")
    asked: RetryRequest = await _body(request, RetryRequest)
    done = await _act(
        actions.retry_message,
        gateway.engine,
        pk,
        now=utcnow(),
        validity=gateway.config.settings.gateway.dispatch.validity,
        by="api",
        resend_unknown=asked.resend_unknown,
    )
    if done is None:
        raise RequestError(404, f"no message with id {pk}")
    gateway.notify_accepted()
    return _answer(await _message_result(gateway, pk, done))


async def cancel_message(request: Request) -> Response:
    """``POST /api/messages/{id}/cancel``."""
    gateway = require_admin(request)
    pk = _path_id(request, "message")
    asked: CancelRequest = await _body(request, CancelRequest)
    done = await _act(
        actions.cancel_message,
        gateway.engine,
        pk,
        now=utcnow(),
        by="api",
        code=asked.code,
        # It goes to CleverTap as typed, where our own pages would show it masked.
        description=hide_secrets(asked.description) if asked.description else None,
    )
    if done is None:
        raise RequestError(404, f"no message with id {pk}")
    wake_relay(request)
    return _answer(await _message_result(gateway, pk, done))


async def list_relays(request: Request) -> Response:
    """``GET /api/relays``."""
    gateway = require_admin(request)
    query = _query(request)
    state = (_text(query, "state") or "dead").lower()
    if state not in RELAY_STATES:
        raise RequestError(400, f"state must be one of: {', '.join(RELAY_STATES)}")
    page = await _in_thread(
        queries.list_relays,
        gateway.engine,
        states=(state,),
        nickname=_text(query, "nickname"),
        limit=_limit(query),
        cursor=_cursor(query),
    )
    return _answer(page)


async def retry_relay(request: Request) -> Response:
    """``POST /api/relays/{id}/retry``."""
    gateway = require_admin(request)
    pk = _path_id(request, "relay record")
    done = await _act(actions.retry_relay, gateway.engine, pk, now=utcnow(), by="api")
    if done is None:
        raise RequestError(404, f"no relay record with id {pk}")
    wake_relay(request)
    relay = await _in_thread(queries.get_relay, gateway.engine, pk)
    return _answer(ActionResult(done=done, relay=relay))


async def give_up_relay(request: Request) -> Response:
    """``POST /api/relays/{id}/give-up``."""
    gateway = require_admin(request)
    pk = _path_id(request, "relay record")
    done = await _act(actions.give_up_relay, gateway.engine, pk, now=utcnow(), by="api")
    if done is None:
        raise RequestError(404, f"no relay record with id {pk}")
    relay = await _in_thread(queries.get_relay, gateway.engine, pk)
    return _answer(ActionResult(done=done, relay=relay))


async def show_stats(request: Request) -> Response:
    """``GET /api/stats``."""
    gateway = require_admin(request)
    figures = await _in_thread(stats.overview, gateway.engine, gateway.config, utcnow())
    return _answer(figures)


async def openapi_document(request: Request) -> Response:
    """``GET /api/openapi.json``: this API's OpenAPI 3.1 document."""
    from smsgate.host.openapi import document

    return JSONResponse(document(OPERATIONS))


async def _act(function: Callable[..., str | None], *args: Any, **kwargs: Any) -> str | None:
    try:
        return await _in_thread(function, *args, **kwargs)
    except ActionRefusedError as exc:
        raise RequestError(409, exc.reason) from None
    except ValueError as exc:
        raise RequestError(400, str(exc)) from None


async def _message_result(gateway: Gateway, pk: int, done: str) -> ActionResult:
    detail = await _in_thread(queries.get_message, gateway.engine, pk)
    summary = None
    if detail is not None:
        summary = MessageSummary.model_validate(
            detail.model_dump(include=set(MessageSummary.model_fields))
        )
    return ActionResult(done=done, message=summary)


def wake_relay(request: Request) -> None:
    """A relay record was queued: let this process's relay tasks look now."""
    delivery = getattr(request.app.state, "delivery", None)
    if delivery is not None:
        delivery.notify()


# --- the table ------------------------------------------------------------------------------

_ID = Parameter("id", "smsgate's id of the row.", {"type": "string", "pattern": "^[0-9]+$"}, "path")
_PAGE = (
    Parameter(
        "limit",
        f"Rows per page, 1 to {queries.MAX_LIMIT} (default {queries.DEFAULT_LIMIT}).",
        {"type": "integer", "minimum": 1, "maximum": queries.MAX_LIMIT},
    ),
    Parameter("cursor", "The previous page's next_cursor, for the next (older) page."),
)
_MOMENT = "ISO 8601 (UTC unless it names a zone), or a duration before now such as 1h or 7d."
# The schema shows the common spellings only (any ISO 8601 time parse_moment reads is
# accepted); a schema wider than the handler would promise 200s that are 400s.
_DATE = "(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-8])"
_TIME = "T([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9])?(Z|[+-](0[0-9]|1[0-3]):[0-5][0-9])?"
_MOMENT_SCHEMA = {
    "type": "string",
    "pattern": f"^({_DATE}({_TIME})?|[0-9]{{1,4}}[smhd]|[0-9]{{1,3}}w)$",
}
_STATUS = "(" + "|".join(status.value for status in MessageStatus) + ")"

OPERATIONS: tuple[Operation, ...] = (
    Operation(
        "GET",
        "/api/messages",
        list_messages,
        "Search messages",
        "Messages matching every filter given, newest first, one page at a time (keyset "
        "pagination on id: follow next_cursor).",
        MessagePage,
        (
            Parameter("nickname", "The provider nickname CleverTap sent it to."),
            Parameter(
                "status",
                "One status or several, comma-separated: accepted, sending, unknown, "
                "submitted, buffered, delivered, failed.",
                {
                    "type": "string",
                    "maxLength": queries.MAX_FILTER,
                    "pattern": f"^{_STATUS}(,{_STATUS})*$",
                },
            ),
            Parameter(
                "number",
                "The recipient, in any form CleverTap may send it (+91 98765 43210, "
                "09876543210, 919876543210).",
            ),
            Parameter("message_id", "CleverTap's $$MessageID, exactly."),
            Parameter("campaign_id", "CleverTap's $$CampaignID, exactly."),
            Parameter("since", f"Created at or after this. {_MOMENT}", _MOMENT_SCHEMA),
            Parameter("until", f"Created before this. {_MOMENT}", _MOMENT_SCHEMA),
            *_PAGE,
        ),
    ),
    Operation(
        "GET",
        "/api/messages/{id}",
        show_message,
        "One message",
        "The message with its events (oldest first, with the vendor's raw fields, secrets "
        "masked), its records for CleverTap, and the actions open to it now.",
        MessageDetail,
        (_ID,),
        refusals=(404,),
    ),
    Operation(
        "POST",
        "/api/messages/{id}/retry",
        retry_message,
        "Send a message again",
        "failed: queued again (not for a record rejected at intake, nor one older than the "
        "dispatch validity). unknown: the vendor may have it, so it is resent only with "
        "resend_unknown=true, accepting that it may arrive twice. accepted and waiting for "
        "its backoff: sent now. Anything else: 409 with the reason.",
        ActionResult,
        (_ID,),
        body=RetryRequest,
        refusals=(400, 404, 409),
    ),
    Operation(
        "POST",
        "/api/messages/{id}/cancel",
        cancel_message,
        "Fail a message that was not sent, or give up on an unknown one",
        "An accepted message (not sent yet) or an unknown one becomes failed with the code "
        "(900 by default) and CleverTap is told, like any failure. Anything else: 409.",
        ActionResult,
        (_ID,),
        body=CancelRequest,
        refusals=(400, 404, 409),
    ),
    Operation(
        "GET",
        "/api/relays",
        list_relays,
        "Records for CleverTap by state",
        "Relay records in one state, newest first: dead (refused by CleverTap or out of "
        "retries; the default), pending, done or given_up.",
        RelayPage,
        (
            Parameter(
                "state",
                "dead (default), pending, done or given_up.",
                {"type": "string", "enum": list(RELAY_STATES)},
            ),
            Parameter("nickname", "Only this nickname's records."),
            *_PAGE,
        ),
    ),
    Operation(
        "POST",
        "/api/relays/{id}/retry",
        retry_relay,
        "Queue a dead record for CleverTap again",
        "A dead or given_up record is sent again as if new (due now, attempts from zero).",
        ActionResult,
        (_ID,),
        refusals=(404, 409),
    ),
    Operation(
        "POST",
        "/api/relays/{id}/give-up",
        give_up_relay,
        "Give up a dead record",
        "A dead record becomes given_up: CleverTap will not receive it; it stays on the "
        "message's page and leaves the dead-letter list.",
        ActionResult,
        (_ID,),
        refusals=(404, 409),
    ),
    Operation(
        "GET",
        "/api/stats",
        show_stats,
        "Figures per nickname",
        "For each nickname: counts by status for the last hour and day, delivery rate, DLR "
        "latency p50/p95, queue depth, sending, unknown, relay backlog, dead relays, "
        "unmatched reports and the circuit breaker's state.",
        Overview,
        refusals=(),
    ),
    Operation(
        "GET",
        "/api/openapi.json",
        openapi_document,
        "This document",
        "The OpenAPI 3.1 document of the admin API. Needs no token.",
        None,
        refusals=(),
        public=True,
    ),
)


def routes() -> list[Route]:
    """Starlette routes for :data:`OPERATIONS`, one per path."""
    by_path: dict[str, dict[str, Handler]] = {}
    for operation in OPERATIONS:
        by_path.setdefault(operation.path, {})[operation.method] = operation.handler
    return [
        Route(path, _dispatch(handlers), methods=list(handlers))
        for path, handlers in by_path.items()
    ]


def _dispatch(handlers: Mapping[str, Handler]) -> Handler:
    if len(handlers) == 1:
        return next(iter(handlers.values()))

    async def by_method(request: Request) -> Response:
        method = "GET" if request.method == "HEAD" else request.method
        return await handlers[method](request)

    return by_method
