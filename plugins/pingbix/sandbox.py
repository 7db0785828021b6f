"""A stand-in for Pingbix's SMS API, for demos, cassette recording and tests.

``smsgate sandbox pingbix --port 9090 --dlr-url URL`` serves it. It answers
``/SMSApi/send`` (GET query, POST form or multipart) as the platform does: JSON with HTTP
200 for success and for errors alike, a 19-digit transaction id per accepted request. After
the configured delay it pushes a delivery report per accepted number to the DLR URL (GET,
the platform's field names), retrying a few times while that URL is down.

Credentials: it accepts one account, ``demo`` / ``demo-password`` unless started with
``--option userid=... --option password=...``; anything else is answered "Invalid userid or
password". Other options: ``dlr_retries`` (attempts per report, default 5) and
``dlr_retry_delay`` (seconds before the first retry, doubling after; default 0.5).

Outcome names for ``--outcomes``: ``delivered``; ``failed`` (one of the failures below,
picked at random); the failures themselves: ``undelivered``, ``dnd``, ``expired``,
``rejected``; and ``none`` (no report at all, as when a vendor loses one).

What is invented here, because no public material shows it: the wording and status codes
of the error answers (phrased the way these platforms commonly phrase them, and covered by
the rules in :mod:`smsgate_pingbix.api`), the numbers and rules of the validation, and the
``ErrorCode`` values of failed reports.

For tests, under ``/sandbox/``:

- ``GET /sandbox/requests``: every send request received, in order:
  ``{"requests": [{"transactionId", "mobile", "msg", "senderid", "msgType", "dltEntityId",
  "dltTemplateId", "received_at", "accepted", "reason", "fault"}]}``; ``transactionId`` is
  ``null`` and ``accepted`` false for a refused request. ``DELETE`` forgets them.
- ``POST /sandbox/faults`` with a JSON object: the next ``count`` (default 1) send requests
  get ``{"status": 503, "retry_after": "2"}`` (that HTTP status), ``{"delay": 2.0}`` (the
  answer held back that many seconds, then given normally), ``{"error": "balance"}`` (one
  of the error answers: credentials, balance, senderid, entity, template, mobile, msg) or
  ``{"body": "<html>"}`` (that body with HTTP 200). ``"accept": true`` makes a ``status`` or
  ``body`` fault still take the message (as a server that fails after acting does).
  Faults queue in order; ``GET`` lists what is pending, ``DELETE`` clears them.
- ``GET /sandbox/dlrs``: the reports pushed: ``{"dlrs": [{"params", "attempts",
  "delivered"}]}``.

``GET /SMSApi/report/status?userid&password&uuid=<transactionId>&output=json`` answers the
platform's shape, ``{"response": {"reports_statusList": [{"status": {"Status", "Cause",
…}}]}}``, one entry per number: ``SUBMITTED`` until the report's delay has passed, then the
outcome (``DELIVERED`` also for ``none``: the report was lost, the platform still knows).
The ``mobileNo``, ``ErrorCode``, ``ReceivedTime`` and ``DeliveredTime`` keys inside
``status`` are this sandbox's additions; only ``Status`` and ``Cause`` were seen.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from smsgate import SandboxSettings
from smsgate.testing.sandbox import SandboxKit, takes_messages
from smsgate_pingbix import api

__all__ = ["DEFAULT_PASSWORD", "DEFAULT_USERID", "ERRORS", "FAILURES", "create_app"]

DEFAULT_USERID = "demo"
DEFAULT_PASSWORD = "demo-password"

#: The sandbox's error answers: name -> (statusCode, reason).
ERRORS: dict[str, tuple[str, str]] = {
    "credentials": ("401", "Invalid userid or password"),
    "balance": ("402", "Insufficient balance"),
    "send_method": ("400", "Invalid sendMethod"),
    "mobile": ("400", "Invalid mobile number"),
    "msg": ("400", "Message is empty"),
    "senderid": ("400", "Invalid senderid"),
    "msg_type": ("400", "Invalid msgType"),
    "entity": ("400", "Invalid dltEntityId"),
    "template": ("400", "Invalid dltTemplateId"),
}

#: Failed delivery outcomes: name -> (Status, ErrorCode).
FAILURES: dict[str, tuple[str, str]] = {
    "undelivered": (api.DlrStatus.UNDELIV, "001"),
    "expired": (api.DlrStatus.EXPIRED, "002"),
    "rejected": (api.DlrStatus.REJECTD, "003"),
    "dnd": (api.DlrStatus.DND, "004"),
}
_DELIVERED = "delivered"
_FAILED = "failed"
_NONE = "none"
_OUTCOMES = frozenset({_DELIVERED, _FAILED, _NONE, *FAILURES})

_MOBILE = re.compile(r"\d{10,15}")
_SENDERID = re.compile(r"[A-Za-z0-9]{3,11}")
_DLT_ID = re.compile(r"\d{10,25}")


@dataclass
class _State:
    kit: SandboxKit
    userid: str
    password: str
    dlrs: list[dict[str, Any]] = field(default_factory=list)
    #: transaction id -> what the status endpoint reports for each number.
    statuses: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def new_id(self) -> str:
        return str(self.kit.rng.randrange(10**18, 10**19))


def create_app(settings: SandboxSettings) -> Starlette:
    """The sandbox as an ASGI application.

    Raises :class:`ValueError` for an unknown outcome name, a negative weight or delay, or
    an unknown or malformed option.
    """
    kit = SandboxKit(
        settings, outcomes=_OUTCOMES, options=("userid", "password"), errors=tuple(ERRORS)
    )
    state = _State(
        kit,
        userid=kit.options.get("userid", DEFAULT_USERID),
        password=kit.options.get("password", DEFAULT_PASSWORD),
    )

    async def send(request: Request) -> Response:
        return await _send(state, request)

    async def report_status(request: Request) -> Response:
        return _report_status(state, request)

    return kit.app(
        [
            Route(api.SEND_PATH, send, methods=["GET", "POST"]),
            Route(api.STATUS_PATH, report_status, methods=["GET"]),
        ],
        reports=("dlrs", state.dlrs),
    )


async def _send(state: _State, request: Request) -> Response:
    received_at = datetime.now(UTC)
    params, form_problem = await _params(request)
    fault = state.kit.next_fault()
    # Logged on arrival, so that a test sees the request while a delay fault holds it.
    entry: dict[str, Any] = {
        "transactionId": None,
        "mobile": params.get(api.Param.MOBILE, ""),
        "msg": params.get(api.Param.MSG, ""),
        "senderid": params.get(api.Param.SENDERID, ""),
        "msgType": params.get(api.Param.MSG_TYPE, ""),
        "dltEntityId": params.get(api.Param.DLT_ENTITY_ID, ""),
        "dltTemplateId": params.get(api.Param.DLT_TEMPLATE_ID, ""),
        "received_at": received_at.isoformat(),
        "accepted": False,
        "reason": None,
        "fault": fault.public(with_count=False) if fault is not None else None,
    }
    state.kit.requests.append(entry)

    if form_problem:
        error: str | None = "form"
        answer = _error_body("400", form_problem)
        accepted: list[str] = []
    elif fault is not None and fault.error:
        error = fault.error
        answer = _error_body(*ERRORS[fault.error])
        accepted = []
    else:
        error, answer, accepted = _validate(state, params)
    if accepted and takes_messages(fault):
        # The message is taken before any delay: a client that gives up waiting has still
        # sent it, which is what "unknown" outcomes are about.
        transaction_id = state.new_id()
        answer[api.Reply.TRANSACTION_ID] = transaction_id
        entry.update(transactionId=transaction_id, accepted=True)
        for mobile in accepted:
            _schedule_dlr(state, transaction_id, mobile, received_at)
    if error:
        entry["reason"] = answer.get(api.Reply.REASON)

    replaced = await fault.answer() if fault is not None else None
    return replaced if replaced is not None else JSONResponse(answer)


async def _params(request: Request) -> tuple[dict[str, str], str | None]:
    params = dict(request.query_params)
    if request.method != "POST":
        return params, None
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in ("multipart/form-data", "application/x-www-form-urlencoded"):
        try:
            async with request.form() as form:
                params.update({key: value for key, value in form.items() if isinstance(value, str)})
        except Exception:  # noqa: BLE001 - any malformed form is the client's error, not ours
            return params, "Invalid request body"
    return params, None


def _validate(
    state: _State, params: Mapping[str, str]
) -> tuple[str | None, dict[str, Any], list[str]]:
    """The error (or None), the answer, and the numbers accepted."""

    def refuse(name: str, invalid: str = "") -> tuple[str, dict[str, Any], list[str]]:
        body = _error_body(*ERRORS[name])
        body[api.Reply.INVALID_MOBILE] = invalid
        return name, body, []

    userid = params.get(api.Param.USERID, "")
    password = params.get(api.Param.PASSWORD, "")
    if not (
        secrets.compare_digest(userid.encode(), state.userid.encode())
        & secrets.compare_digest(password.encode(), state.password.encode())
    ):
        return refuse("credentials")
    if params.get(api.Param.SEND_METHOD) != api.SEND_METHOD_QUICK:
        return refuse("send_method")
    numbers = [
        number.strip()
        for number in params.get(api.Param.MOBILE, "").split(api.MOBILE_SEPARATOR)
        if number.strip()
    ]
    valid = [number for number in numbers if _MOBILE.fullmatch(number)]
    invalid = api.MOBILE_SEPARATOR.join(number for number in numbers if number not in valid)
    if not valid:
        return refuse("mobile", invalid)
    if not params.get(api.Param.MSG, "").strip():
        return refuse("msg")
    if not _SENDERID.fullmatch(params.get(api.Param.SENDERID, "")):
        return refuse("senderid")
    if params.get(api.Param.MSG_TYPE, api.MSG_TYPE_TEXT).lower() not in (
        api.MSG_TYPE_TEXT,
        api.MSG_TYPE_UNICODE,
    ):
        return refuse("msg_type")
    entity = params.get(api.Param.DLT_ENTITY_ID, "")
    if entity and not _DLT_ID.fullmatch(entity):
        return refuse("entity")
    template = params.get(api.Param.DLT_TEMPLATE_ID, "")
    if template and not _DLT_ID.fullmatch(template):
        return refuse("template")
    answer = {
        api.Reply.STATUS: api.STATUS_SUCCESS,
        api.Reply.MOBILE: api.MOBILE_SEPARATOR.join(valid),
        api.Reply.INVALID_MOBILE: invalid,
        api.Reply.TRANSACTION_ID: "",
        api.Reply.STATUS_CODE: api.STATUS_CODE_SUCCESS,
        api.Reply.REASON: api.STATUS_SUCCESS,
        api.Reply.MSG_ID: "",
    }
    return None, answer, valid


def _error_body(status_code: str, reason: str) -> dict[str, Any]:
    return {
        api.Reply.STATUS: api.STATUS_ERROR,
        api.Reply.MOBILE: "",
        api.Reply.INVALID_MOBILE: "",
        api.Reply.TRANSACTION_ID: "",
        api.Reply.STATUS_CODE: status_code,
        api.Reply.REASON: reason,
        api.Reply.MSG_ID: "",
    }


def _schedule_dlr(state: _State, transaction_id: str, mobile: str, received_at: datetime) -> None:
    url = state.kit.settings.dlr_url
    outcome = state.kit.pick_outcome()
    if url is None or outcome == _NONE:
        # A lost report is still known to the status endpoint.
        _remember(state, transaction_id, mobile, received_at, outcome)
        return
    if outcome == _FAILED:
        outcome = state.kit.rng.choice(sorted(FAILURES))
    _remember(state, transaction_id, mobile, received_at, outcome)
    params = {
        api.Dlr.TRANSACTION_ID: transaction_id,
        api.Dlr.MESSAGE_ID: state.new_id(),
        api.Dlr.MOBILE: mobile,
        api.Dlr.RECEIVED_TIME: _dlr_time(received_at),
    }
    with_status = state.kit.rng.random() < 0.5
    state.kit.spawn(_push_dlr(state, url, params, outcome, with_status))


def _remember(
    state: _State, transaction_id: str, mobile: str, received_at: datetime, outcome: str
) -> None:
    if outcome in (_DELIVERED, _NONE):
        status, error, cause = api.DlrStatus.DELIVERED.value, "000", "Success"
    elif outcome in FAILURES:
        status, error = FAILURES[outcome]
        cause = outcome.capitalize()
    else:
        status, error, cause = api.DlrStatus.FAILED.value, "005", "Failed"
    state.statuses.setdefault(transaction_id, []).append(
        {
            "mobile": mobile,
            "status": str(status),
            "error": error,
            "cause": cause,
            "received_at": received_at,
            "due": received_at.timestamp() + state.kit.settings.delay,
        }
    )


def _report_status(state: _State, request: Request) -> Response:
    params = request.query_params
    userid = params.get(api.Param.USERID, "")
    password = params.get(api.Param.PASSWORD, "")
    if not (
        secrets.compare_digest(userid.encode(), state.userid.encode())
        & secrets.compare_digest(password.encode(), state.password.encode())
    ):
        return JSONResponse(_error_body(*ERRORS["credentials"]))
    now = datetime.now(UTC)
    listed = []
    for entry in state.statuses.get(params.get(api.Param.UUID, ""), []):
        final = now.timestamp() >= entry["due"]
        status = {
            api.StatusReply.STATUS_WORD: entry["status"] if final else "SUBMITTED",
            api.StatusReply.CAUSE: entry["cause"] if final else "Submitted",
            api.Dlr.MOBILE: entry["mobile"],
            api.Dlr.ERROR_CODE: entry["error"] if final else "",
            api.Dlr.RECEIVED_TIME: _dlr_time(entry["received_at"]),
            api.Dlr.DELIVERED_TIME: _dlr_time(now) if final else "",
        }
        listed.append({api.StatusReply.STATUS: status})
    return JSONResponse({api.StatusReply.RESPONSE: {api.StatusReply.REPORTS: listed}})


async def _push_dlr(
    state: _State, url: str, params: dict[str, str], outcome: str, with_status: bool
) -> None:
    await asyncio.sleep(state.kit.settings.delay)
    params[api.Dlr.DELIVERED_TIME] = _dlr_time(datetime.now(UTC))
    if outcome == _DELIVERED:
        params[api.Dlr.ERROR_CODE] = "000"
        status = api.DlrStatus.DELIVRD.value
    else:
        status, params[api.Dlr.ERROR_CODE] = FAILURES[outcome]
    if with_status:
        params[api.Dlr.STATUS] = status
    attempts, delivered = await state.kit.push(url, lambda client: client.get(url, params=params))
    state.dlrs.append({"params": params, "attempts": attempts, "delivered": delivered})


def _dlr_time(moment: datetime) -> str:
    return moment.astimezone(api.DLR_TIMEZONE).strftime(api.DLR_TIME_FORMAT)
