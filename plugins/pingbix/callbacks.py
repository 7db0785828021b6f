"""``parse_callback`` for Pingbix: delivery reports pushed to the DLR URL.

Pingbix (the SMSApi platform) pushes one report per number with ``Transactionid`` (our
vendor id), ``Messageid``, ``ErrorCode``, ``mobileNo``, ``ReceivedTime``, ``DeliveredTime``
and sometimes ``Status``. The fields may come as a GET query, a POST form (urlencoded or
multipart), or JSON (one object, or an array of objects for several reports); a POST's
query fields count too. Keys are matched without regard to case.

How a report is judged (:func:`classify`), first rule that applies:

===============================================  =========================================
report                                           event
===============================================  =========================================
``Status`` DELIVRD / DELIVERED                   delivered
``Status`` SUBMITTED, SENT, PENDING, ACCEPTD …   buffered (not final)
any other ``Status`` (UNDELIV, EXPIRED …)        failed, code from the table below
no ``Status``, ``ErrorCode`` not empty or 0      failed, code from ``error_codes`` or 900
no ``Status``, ``DeliveredTime`` a time          delivered
nothing of the above                             buffered: no sign of a failure, and a
                                                 made-up failure would be final
===============================================  =========================================

``Status`` wins over the other fields: the platform stamps a ``DeliveredTime`` on failed
reports too. ``SUCCESS``/``OK`` are API acknowledgements, not statuses, and are ignored.
An ``ErrorCode`` of zeros or a placeholder (``null``, ``NA``, ``-`` …) is no error; a
``DeliveredTime`` that is a placeholder or a zero date (``0000-00-00 00:00``,
``0001-01-01 00:00:00``, any time before 2001) is no delivery, since the first final report
wins and a wrong one could never be taken back. A ``DeliveredTime`` in a form we cannot read
still says delivered when it names a year of this century (:class:`TimeReading`).

Failing statuses and CleverTap's codes (:data:`smsgate_pingbix.api.DLR_STATUS_CODES`):

=====================================  =====  =============================================
Pingbix ``Status``                     code   CleverTap's meaning
=====================================  =====  =============================================
UNDELIV, UNDELIVERED                   914    undelivered (after retries)
EXPIRED                                916    expired
DELETED                                917    force expired (dropped by the provider)
DND                                    901    DND failure
NDNC                                   913    NDNC rejected
SPAM                                   902    failed, spam detected
BLACKLIST, BLACKLISTED                 903    rejected, blacklist
INVALID                                910    invalid subscriber
DUPLICATE                              918    duplicate message drop
FAILED, REJECTD, REJECTED, UNKNOWN,    900    any other error, with Pingbix's words as
anything else                                 the description; or the ``error_codes``
                                              option's code for the report's ``ErrorCode``
=====================================  =====  =============================================

Times carry no zone; they are read in the ``timezone`` option (default Asia/Kolkata) and
stored in UTC. A delivered or failed report happened at ``DeliveredTime``, a buffered one
at ``ReceivedTime``; a missing or unreadable time is the time of arrival.
"""

from __future__ import annotations

import email.parser
import email.policy
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from urllib.parse import parse_qsl

from smsgate import CallbackError, CallbackRequest, DeliveryEvent, EventKind
from smsgate_pingbix import api
from smsgate_pingbix.options import PingbixOptions

__all__ = ["TimeReading", "classify", "parse_callback", "parse_time", "read_time", "records"]

_FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
_MAX_RECORDS = 1000
#: len("2026-11-25 14:30:05"), a time written as DLR_TIME_FORMAT.
_USUAL_LENGTH = 19
_OTHER = "900"
#: A year a delivery can have happened in, as a whole number.
_YEAR = re.compile(r"(?<!\d)20\d\d(?!\d)")
#: Report times before this are placeholders for "no time" (epoch seconds have 10 digits).
_EARLIEST = datetime.fromtimestamp(1_000_000_000, UTC)


def parse_callback(request: CallbackRequest, options: PingbixOptions) -> list[DeliveryEvent]:
    """The events of one Pingbix delivery report request; none for an empty request."""
    now = datetime.now(UTC)
    zone = options.zone
    events = []
    for fields in records(request):
        vendor_id = fields.get(api.Dlr.TRANSACTION_ID.lower(), "").strip()
        if not vendor_id:
            raise CallbackError(f"a report has no {api.Dlr.TRANSACTION_ID}")
        events.append(classify(fields, vendor_id, zone, now, options.error_codes))
    return events


def records(request: CallbackRequest) -> list[dict[str, str]]:
    """The reports in ``request``, each with lower-case keys and string values."""
    query = _lowered(request.query)
    body = request.body.strip()
    if request.method.upper() != "POST" or not body:
        return [query] if query else []
    kind = request.content_type
    if kind.endswith("json") or body[:1] in (b"{", b"["):
        # Sniffed as well: a JSON body sent as a form is still JSON.
        found = _json(body)
    else:
        fields = _multipart(request) if kind == _MULTIPART else _form(body)
        if not fields and not query:
            # A 200 would tell the vendor its report arrived, and it would never come again.
            raise CallbackError("no report field could be read from the body")
        found = [fields]
    return [{**query, **fields} for fields in found if fields or query]


def classify(
    fields: Mapping[str, str],
    vendor_id: str,
    zone: tzinfo,
    now: datetime,
    error_codes: Mapping[str, str] | None = None,
) -> DeliveryEvent:
    """The event one report (lower-case keys) stands for; see the module docstring."""
    status = fields.get(api.Dlr.STATUS.lower(), "").strip().upper()
    if status in api.DLR_ENVELOPE:
        status = ""
    error = fields.get(api.Dlr.ERROR_CODE.lower(), "").strip()
    if not _is_error(error):
        error = ""
    delivered_time = fields.get(api.Dlr.DELIVERED_TIME.lower(), "").strip()
    delivered = read_time(delivered_time, zone)
    delivered_at = delivered.moment
    received_at = parse_time(fields.get(api.Dlr.RECEIVED_TIME.lower(), ""), zone)
    failed_code: str | None = None
    if status in api.DLR_DELIVERED:
        kind = EventKind.DELIVERED
    elif status in api.DLR_PENDING:
        kind = EventKind.BUFFERED
    elif status:
        kind = EventKind.FAILED
        # A status that names the cause decides the code; a generic one (FAILED, REJECTD)
        # leaves it to the ErrorCode, as the operator's ``error_codes`` maps it.
        failed_code = api.DLR_STATUS_CODES.get(status, _OTHER)
        if failed_code == _OTHER:
            failed_code = _error_code(error, error_codes)
    elif error:
        kind = EventKind.FAILED
        failed_code = _error_code(error, error_codes)
    elif delivered.is_a_time:
        kind = EventKind.DELIVERED
    else:
        kind = EventKind.BUFFERED
    final = kind is not EventKind.BUFFERED
    # ReceivedTime is when Pingbix took the message: a final report without its own time
    # happened nearer to its arrival than to that.
    occurred_at = (delivered_at or now) if final else (received_at or now)
    return DeliveryEvent(
        vendor_id=vendor_id,
        kind=kind,
        occurred_at=occurred_at,
        to=_number(fields.get(api.Dlr.MOBILE.lower()) or fields.get("mobile")),
        code=failed_code,
        description=_description(kind, status, error, fields),
        vendor_status=status or None,
        raw=dict(fields),
    )


@dataclass(frozen=True, slots=True)
class TimeReading:
    """What a report time says.

    :param moment: the time in UTC; ``None`` when unreadable, or a placeholder date such as
        ``0001-01-01 00:00:00`` (anything before 2001).
    :param is_a_time: whether it stands for a time at all: a time read, or one in a form
        not known here that names a year of this century (``25 Nov 2026 10:00:05 PM``); not
        a placeholder, a zero date or ``pending 2``.
    """

    moment: datetime | None
    is_a_time: bool


def read_time(text: str, zone: tzinfo) -> TimeReading:
    """What ``text`` says as a report time, read in ``zone`` unless it says its own."""
    try:
        moment = _parse_time(text, zone)
    except (OverflowError, ValueError):  # a zero date at the very edge of what datetime holds
        return TimeReading(None, is_a_time=False)
    if moment is not None:
        plausible = moment >= _EARLIEST
        return TimeReading(moment if plausible else None, is_a_time=plausible)
    return TimeReading(None, is_a_time=_YEAR.search(text) is not None)


def parse_time(text: str, zone: tzinfo) -> datetime | None:
    """A report time in UTC, read in ``zone`` unless it says its own; ``None`` if unreadable.

    A time before 2001 is a placeholder (``0001-01-01 00:00:00``), not a time: ``None``.
    """
    return read_time(text, zone).moment


def _parse_time(text: str, zone: tzinfo) -> datetime | None:
    text = text.strip()
    if not text or text.lower() in api.DLR_NO_TIME:
        return None
    if text.isdigit() and len(text) in (10, 13):
        seconds = int(text) / (1000 if len(text) == 13 else 1)
        return datetime.fromtimestamp(seconds, UTC)
    if len(text) == _USUAL_LENGTH and text[4] == "-" and text[10] == " ":
        # The usual spelling, DLR_TIME_FORMAT: read as the ISO fallback below reads it, and
        # as strptime would, about ten times faster than strptime.
        moment = _iso(text)
        if moment is not None:
            return (moment if moment.tzinfo else moment.replace(tzinfo=zone)).astimezone(UTC)
    for form in api.DLR_TIME_FORMATS:
        try:
            moment = datetime.strptime(text, form)
        except ValueError:
            continue
        return moment.replace(tzinfo=zone).astimezone(UTC)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(UTC)


def _iso(text: str) -> datetime | None:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


def _is_error(code: str) -> bool:
    """Whether an ``ErrorCode`` names an error: not empty, zeros or a placeholder word."""
    text = code.strip().lower()
    if text in api.DLR_NO_ERROR:
        return False
    return text.replace(".", "", 1).strip("0") != ""


def _error_code(error: str, error_codes: Mapping[str, str] | None) -> str:
    if not error:
        return _OTHER
    return (error_codes or {}).get(error) or api.DLR_ERROR_CODES.get(error) or _OTHER


def _description(kind: EventKind, status: str, error: str, fields: Mapping[str, str]) -> str:
    cause = fields.get(api.StatusReply.CAUSE.lower(), "").strip()
    words = status or ("DELIVERED" if kind is EventKind.DELIVERED else "")
    if kind is EventKind.FAILED and error:
        words = f"{words} (ErrorCode {error})" if words else f"Pingbix ErrorCode {error}"
    if cause and cause.upper() != words.upper():
        words = f"{words}: {cause}" if words else cause
    return words or "SUBMITTED"


def _number(value: str | None) -> str | None:
    if value and any("\ud800" <= ch <= "\udfff" for ch in value):
        # A byte that was not UTF-8 (or a lone surrogate): handed on as it came, for the
        # core to refuse, rather than quietly dropped out of the number matching relies on.
        return value
    digits = "".join(ch for ch in value or "" if ch.isdigit())
    if not digits:
        return None
    # With a country code the number is E.164; a bare national number is left as it is
    # (matching compares numbers by their digits).
    return f"+{digits}" if len(digits) > 10 else digits


def _lowered(fields: Mapping[str, Any]) -> dict[str, str]:
    return {str(key).strip().lower(): _string(value) for key, value in fields.items()}


def _string(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


def _form(body: bytes) -> dict[str, str]:
    # A byte that is not UTF-8 stays a lone surrogate, as in the host's query: the core
    # refuses it where the report is judged by it and keeps it as an escape elsewhere.
    try:
        pairs = parse_qsl(
            body.decode("utf-8", "surrogateescape"),
            keep_blank_values=True,
            errors="surrogateescape",
            max_num_fields=200,
        )
    except ValueError:
        raise CallbackError("the form body is not key=value pairs") from None
    return _lowered(dict(pairs))


def _multipart(request: CallbackRequest) -> dict[str, str]:
    content_type = request.headers.get("content-type", _MULTIPART)
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1", "replace")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.body)
    if not message.is_multipart():
        raise CallbackError("the multipart body cannot be read (no boundary?)")
    fields: dict[str, str] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not isinstance(name, str):
            continue
        payload = part.get_payload(decode=True)
        raw = payload if isinstance(payload, bytes) else b""
        fields[name] = raw.decode("utf-8", "surrogateescape")
    return _lowered(fields)


def _json(body: bytes) -> list[dict[str, str]]:
    try:
        try:
            document = json.loads(body)
        except UnicodeDecodeError:
            document = json.loads(body.decode("utf-8", "surrogateescape"))
    except (ValueError, RecursionError):
        # RecursionError: deeply nested arrays, which json gives up on without a ValueError.
        raise CallbackError("the body is not valid JSON") from None
    items: Sequence[Any] = document if isinstance(document, list) else [document]
    if len(items) > _MAX_RECORDS:
        raise CallbackError(f"more than {_MAX_RECORDS} reports in one request")
    found = []
    for item in items:
        if not isinstance(item, dict):
            raise CallbackError("a JSON report must be an object of fields")
        found.append(_lowered(item))
    return found
