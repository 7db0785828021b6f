"""``/clevertap/{nickname}``: where CleverTap's "Other (Generic)" provider sends SMS."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy.exc import OperationalError, SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request

from smsgate.config import Provider
from smsgate.errors import RequestError
from smsgate.host.answers import Answer
from smsgate.host.auth import require_token
from smsgate.host.bodies import media_type, parse_multipart, parse_query, read_body
from smsgate.host.gateway import Gateway
from smsgate.host.redaction import mask_data
from smsgate.intake.payloads import (
    FORM_TYPE,
    JSON_TYPES,
    MULTIPART_TYPE,
    record_from_pairs,
    records_from_json,
)
from smsgate.intake.records import Rejection, parse_template_variables, prepare_record
from smsgate.sms.encoding import segment_info
from smsgate.storage.intake import store_records
from smsgate.storage.models import utcnow

logger = logging.getLogger(__name__)

Decoder = Callable[[], list[object]]


async def send(request: Request) -> Answer:
    """Accept one record or a batch, store it, and answer once it is committed."""
    gateway: Gateway = request.app.state.gateway
    provider = gateway.provider(request.path_params["nickname"])
    require_token(request, provider.settings.token)
    gateway.working_provider(provider)
    if request.method == "HEAD":
        # Starlette routes HEAD with GET; a send whose answer nobody can read is refused.
        raise RequestError(
            405, "use GET or POST to send; HEAD sends nothing", headers={"Allow": "GET, POST"}
        )
    settings = gateway.config.settings.gateway
    decode = await _decoder(request, settings.max_body_bytes, settings.body_timeout)
    # Decoding, checking and storing are CPU and database work: keep them off the event loop.
    try:
        failed, result = await run_in_threadpool(_accept, gateway, provider, decode)
    except RequestError as exc:
        if exc.status_code != 400:
            raise
        return _answer(400, accepted=0, duplicates=0, untracked=0, rejected=[], error=exc.message)
    # For the metrics: which rejects became failed messages, the answer cannot tell.
    request.state.failed_stored = failed
    if result["accepted"] == 0 and result["duplicates"] == 0:
        return _answer(400, **result, error="no valid record in the request")
    if result["accepted"]:
        gateway.notify_accepted()
    return _answer(202, **result)


async def _decoder(request: Request, limit: int, deadline: float) -> Decoder:
    """How to turn this request into records; the body is read here, within ``limit``
    bytes and ``deadline`` seconds."""
    if request.method == "GET":
        query: bytes = request.scope["query_string"]
        return lambda: record_from_pairs(parse_query(query))
    kind = media_type(request)
    if kind in JSON_TYPES or kind.endswith("+json"):
        body = await read_body(request, limit, deadline=deadline)
        return lambda: records_from_json(body)
    if kind == FORM_TYPE:
        body = await read_body(request, limit, deadline=deadline)
        return lambda: record_from_pairs(parse_query(body, what="form body"))
    if kind == MULTIPART_TYPE:
        body = await read_body(request, limit, deadline=deadline)
        content_type = request.headers["content-type"]
        return lambda: record_from_pairs(parse_multipart(content_type, body), url_encoded=False)
    raise RequestError(
        415,
        f"content type {kind or '(none)'!r} is not supported; send application/json, "
        "application/x-www-form-urlencoded or multipart/form-data",
    )


def _accept(gateway: Gateway, provider: Provider, decode: Decoder) -> tuple[int, dict[str, Any]]:
    """Decode, check and store; the rejected records stored as failed, and the answer."""
    records = decode()
    now = utcnow()
    rows: list[dict[str, Any]] = []
    rejections: list[Rejection] = []
    country = provider.settings.default_country
    nickname = provider.nickname
    # The first record with a message_id decides, valid or not, as the first request with
    # it would: a later one in the same request is a duplicate.
    seen: set[str] = set()
    repeats = 0
    for index, record in enumerate(records):
        prepared = prepare_record(
            index, record, nickname=nickname, default_country=country, now=now
        )
        message_id = _tracked_id(prepared)
        if message_id is not None:
            if message_id in seen:
                repeats += 1
                continue
            seen.add(message_id)
        if isinstance(prepared, Rejection):
            rejections.append(prepared)
        else:
            if prepared["body"] is None:
                _count_template_text(provider, prepared)
            rows.append(prepared)
    try:
        outcome = store_records(gateway.engine, nickname, rows, rejections, now)
    except OperationalError:
        raise RequestError(503, "the database is unavailable; nothing was stored") from None
    except SQLAlchemyError:
        # Not the records' fault (they were checked against every column): a schema that
        # moved under this process, say. CleverTap retries a 503; nothing was stored.
        logger.exception("a batch for %r could not be stored", nickname)
        raise RequestError(503, "the database refused the batch; nothing was stored") from None
    return outcome.failed, {
        "accepted": outcome.accepted,
        "duplicates": outcome.duplicates + repeats,
        "untracked": outcome.untracked,
        "rejected": [
            {"index": r.index, "message_id": r.message_id, "error": r.error}
            for r in rejections
            if r.message_id not in outcome.repeated_rejections
        ],
    }


def _count_template_text(provider: Provider, row: dict[str, Any]) -> None:
    """Encoding and segments of a template-only record, from the text its plugin fills in."""
    if provider.plugin is None or provider.options is None:
        return
    raw = row["template_variables"]
    text = provider.plugin.template_text(
        row["template_id"], parse_template_variables(raw), raw, provider.options
    )
    if text:
        info = segment_info(text)
        row["encoding"], row["segments"] = info.encoding.value, info.segments


def _tracked_id(prepared: dict[str, Any] | Rejection) -> str | None:
    if isinstance(prepared, Rejection):
        return prepared.message_id
    return prepared["message_id"] if prepared["tracked"] else None


def _answer(status: int, **body: Any) -> Answer:
    # Rejections quote keys and message ids, where a careless campaign may put a secret.
    return Answer(mask_data(body), status_code=status)
