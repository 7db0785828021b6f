"""Checking one CleverTap record and shaping it into a row of the messages table."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from smsgate.errors import InvalidRecordError
from smsgate.sms.encoding import segment_info
from smsgate.sms.numbers import InvalidNumberError, normalise_number
from smsgate.storage.text import unstorable

CONTENT_KEYS = ("to", "body", "template_id", "template_variables", "campaign_id")
CANONICAL_KEYS = (*CONTENT_KEYS, "message_id")
_CANONICAL = frozenset(CANONICAL_KEYS)
MAX_MESSAGE_ID = 255
MAX_FIELD = {"to": 64, "template_id": 64, "campaign_id": 128, "message_id": MAX_MESSAGE_ID}
#: Characters (keys and values) of the keys beyond the canonical ones one record may keep.
MAX_EXTRAS = 4096
#: A placeholder CleverTap left as it was (``$$MessageID``): the field was not filled in.
_UNFILLED = re.compile(r"\$\$[A-Za-z]+")
INVALID_NUMBER = "910"
OTHER_ERROR = "900"


@dataclass(frozen=True, slots=True)
class Rejection:
    """A record we refuse; ``message_id`` is set when CleverTap can be told about it.

    ``to`` (the number in E.164, when it was one) and ``campaign_id`` are kept so that
    operators find the refused record where they look for the campaign's other messages.
    """

    index: int
    message_id: str | None
    error: str
    code: str
    raw_to: str
    to: str | None = None
    campaign_id: str | None = None


def prepare_record(
    index: int,
    record: object,
    *,
    nickname: str,
    default_country: str | None,
    now: datetime,
) -> dict[str, Any] | Rejection:
    """A row for the messages table, or the reason the record cannot be sent.

    ``record`` is one entry of the request as decoded, so anything JSON can hold.
    """
    message_id: str | None = None
    raw_to = ""
    fields: dict[str, str | None] = {}
    try:
        if not isinstance(record, Mapping):
            raise InvalidRecordError("each entry of `messages` must be a JSON object")
        # First, so that a record refused for another reason can still be reported to
        # CleverTap under its id.
        message_id = _canonical("message_id", record.get("message_id")) or None
        # Every field is read before one is refused, so that the refused record keeps its
        # number and campaign whichever field was wrong.
        problem: InvalidRecordError | None = None
        for key in CONTENT_KEYS:
            try:
                fields[key] = _canonical(key, record.get(key))
            except InvalidRecordError as exc:
                fields[key] = None
                problem = problem or exc
        raw_to = fields["to"] or ""
        if problem is not None:
            raise problem
        extras = {
            _text_key(key): _extra(key, value)
            for key, value in record.items()
            if key not in _CANONICAL and value is not None and not unfilled(value)
        }
        size = extras_size(extras) if extras else 0
        if size > MAX_EXTRAS:
            raise InvalidRecordError(
                f"the keys beyond {', '.join(CANONICAL_KEYS)} take {size} characters; "
                f"at most {MAX_EXTRAS} are kept per record"
            )
        if not raw_to:
            if unfilled(record.get("to")):
                raise InvalidRecordError(
                    "`to` arrived as the placeholder $$To itself: the profile has no phone "
                    "number, or the placeholder is misspelt in the provider's template"
                )
            raise InvalidRecordError("`to` is missing; map it to $$To")
        body, template_id = fields["body"], fields["template_id"]
        if body is not None and not body.strip():
            # Nothing a vendor would deliver, and it would hide the template's text.
            body = None
        if not body and not template_id:
            what = (
                "`body` is blank and `template_id` is not set"
                if fields["body"]
                else "neither `body` nor `template_id` is set"
            )
            raise InvalidRecordError(f"{what}; map one to $$Body or $$TemplateID")
        try:
            to = normalise_number(raw_to, default_country)
        except InvalidNumberError as exc:
            raise InvalidRecordError(exc.reason, code=INVALID_NUMBER) from None
    except InvalidRecordError as exc:
        return Rejection(
            index,
            message_id,
            exc.reason,
            exc.code,
            raw_to,
            to=_number_or_none(raw_to, default_country) if exc.code != INVALID_NUMBER else None,
            campaign_id=fields.get("campaign_id"),
        )

    info = segment_info(body or "")
    return {
        "nickname": nickname,
        "message_id": message_id or f"smsgate-{uuid.uuid4().hex}",
        "tracked": message_id is not None,
        "to": to,
        "raw_to": raw_to,
        "body": body,
        "template_id": template_id,
        "template_variables": fields["template_variables"],
        "campaign_id": fields["campaign_id"],
        "extras": extras,
        "encoding": info.encoding.value,
        "segments": info.segments,
        "status": "accepted",
        "status_rank": 0,
        "attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
    }


def parse_template_variables(raw: str | None) -> tuple[str, ...]:
    """CleverTap's ``$$TemplateVariables``, in order of occurrence.

    Its wire format is not documented: a JSON array is taken as such (an item that is not
    a string becomes its JSON text); otherwise values are split on ``|`` when present, else
    on ``,``. Never raises: the text was accepted once and must stay sendable.
    """
    if not raw:
        return ()
    text = raw.strip()
    if text.startswith("["):
        try:
            values = json.loads(text)
            if isinstance(values, list):
                return tuple(
                    value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
                    for value in values
                )
        except (ValueError, RecursionError):
            pass
    separator = "|" if "|" in text else ","
    return tuple(part.strip() for part in text.split(separator))


def _number_or_none(raw_to: str, default_country: str | None) -> str | None:
    if not raw_to:
        return None
    try:
        return normalise_number(raw_to, default_country)
    except InvalidNumberError:
        return None


def extras_size(extras: Mapping[str, object]) -> int:
    """Characters of keys and values, values as JSON text unless they are strings."""
    return sum(
        len(key) + len(value if isinstance(value, str) else json.dumps(value, ensure_ascii=False))
        for key, value in extras.items()
    )


def unfilled(value: object) -> bool:
    """Whether ``value`` is a placeholder CleverTap left as it was (``$$MessageID``)."""
    return isinstance(value, str) and value[:2] == "$$" and _UNFILLED.fullmatch(value) is not None


def _canonical(key: str, value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        # A literal `$$MessageID` stored as an id would make every later record carrying it
        # a duplicate, never sent: a field CleverTap did not fill in is a field not set.
        if unfilled(value):
            return None
        text = value
    elif key == "template_variables" and isinstance(value, list):
        text = json.dumps([_scalar_text(item) for item in value], ensure_ascii=False)
    elif isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
    else:
        raise InvalidRecordError(f"`{key}` must be a string, not {json_type(value)}")
    _check_text(f"`{key}`", text)
    limit = MAX_FIELD.get(key)
    if limit is not None and len(text) > limit:
        raise InvalidRecordError(f"`{key}` is longer than {limit} characters")
    return text


def _extra(key: str, value: Any) -> str:
    try:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    except RecursionError:
        raise InvalidRecordError(f"{_quoted(key)} is nested too deeply") from None
    _check_text(_quoted(key), text)
    return text


def _text_key(key: str) -> str:
    _check_text("a key", key)
    return key


def json_type(value: object) -> str:
    """How JSON calls the type of a decoded value, for error messages."""
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    names = {dict: "an object", list: "an array", str: "a string", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _quoted(key: str) -> str:
    # Keys are the client's text: keep a long one from flooding the answer and the row.
    return f"`{key}`" if len(key) <= 40 else f"`{key[:40]}…`"


def _scalar_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return json.dumps(value)
    raise InvalidRecordError("`template_variables` must be a list of strings or numbers")


def _check_text(what: str, text: str) -> None:
    # Neither stored (PostgreSQL refuses it) nor sent back in a JSON answer.
    problem = unstorable(text)
    if problem is not None:
        raise InvalidRecordError(f"{what} {problem}")
