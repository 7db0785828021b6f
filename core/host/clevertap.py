"""``/clevertap/{nickname}``: where CleverTap's "Other (Generic)" provider sends SMS."""

from __future__ import annotations

from typing import Any

from smsgate.errors import RequestError
from smsgate.host.auth import require_token
from smsgate.host.bodies import media_type, parse_form, parse_query, read_body
from smsgate.host.gateway import Gateway
from smsgate.intake.payloads import (
    FORM_TYPE,
    JSON_TYPES,
    MULTIPART_TYPE,
    record_from_pairs,
    records_from_json,
)
from smsgate.intake.records import Rejection, prepare_record
from smsgate.storage.intake import store_records
from smsgate.storage.models import utcnow
from sqlalchemy.exc import OperationalError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse


async def send(request: Request) -> JSONResponse:
    """Accept one record or a batch, store it, and answer once it is committed."""
    gateway: Gateway = request.app.state.gateway
    provider = gateway.provider(request.path_params["nickname"])
    require_token(request, provider.settings.token)
    gateway.working_provider(provider)
    try:
        records = await _read_records(request, gateway.config.settings.gateway.max_body_bytes)
    except RequestError as exc:
        if exc.status_code != 400:
            raise
        return _answer(400, accepted=0, duplicates=0, untracked=0, rejected=[], error=exc.message)

    def accept() -> dict[str, Any]:
        now = utcnow()
        rows: list[dict[str, Any]] = []
        rejections: list[Rejection] = []
        country = provider.settings.default_country
        for index, record in enumerate(records):
            prepared = prepare_record(
                index, record, nickname=provider.nickname, default_country=country, now=now
            )
            if isinstance(prepared, Rejection):
                rejections.append(prepared)
            else:
                rows.append(prepared)
        try:
            outcome = store_records(gateway.engine, provider.nickname, rows, rejections, now)
        except OperationalError:
            raise RequestError(503, "the database is unavailable; nothing was stored") from None
        return {
            "accepted": outcome.accepted,
            "duplicates": outcome.duplicates,
            "untracked": outcome.untracked,
            "rejected": [
                {"index": r.index, "message_id": r.message_id, "error": r.error} for r in rejections
            ],
        }

    result = await run_in_threadpool(accept)
    if result["accepted"] == 0 and result["duplicates"] == 0:
        return _answer(400, **result, error="no valid record in the request")
    return _answer(202, **result)


async def _read_records(request: Request, limit: int) -> list[dict[str, Any]]:
    if request.method == "GET":
        return record_from_pairs(parse_query(request.scope["query_string"]))
    body = await read_body(request, limit)
    kind = media_type(request)
    if kind in JSON_TYPES or kind.endswith("+json"):
        return records_from_json(body)
    if kind == FORM_TYPE:
        return record_from_pairs(await parse_form(request, body, multipart=False))
    if kind == MULTIPART_TYPE:
        return record_from_pairs(await parse_form(request, body, multipart=True))
    raise RequestError(
        415,
        f"content type {kind or '(none)'!r} is not supported; send application/json, "
        "application/x-www-form-urlencoded or multipart/form-data",
    )


def _answer(status: int, **body: Any) -> JSONResponse:
    return JSONResponse(body, status_code=status)
