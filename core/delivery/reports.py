"""A plugin's :class:`~smsgate.types.DeliveryEvent`, checked, clipped and made storable.

Everything a vendor or a plugin hands us is bounded here before it reaches the database:
strings are clipped to their columns, text that no database could store as it is
(:mod:`smsgate.storage.text`) in a field the event is judged by (its vendor id, number,
code, words, status, URLs, reply text and the number a reply came from) makes the event
unusable rather than being changed in silence, a failure code that CleverTap would not
accept becomes 900, a time without a zone is taken as UTC, and a time that cannot be a
10-digit epoch (a vendor clock at 1970, a typo years ahead) gives way to the time we
received it.

The vendor's raw fields are a copy kept for operators. Secrets are masked out of them, and
what no database can store is written there as a visible escape (``\\u0000``, ``\\ud800``,
``\\xff`` for a byte that is not UTF-8, ``NaN``): a stray character in a field nobody
reads must not cost the message its delivery report.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, SecretStr

from smsgate.http import spellings
from smsgate.storage.text import escaped, unstorable
from smsgate.types import DeliveryEvent, EventKind

__all__ = [
    "CLEVERTAP_CODE",
    "MASK",
    "Report",
    "mask",
    "normalise",
    "secrets_of",
]

#: The codes CleverTap accepts in a ``failed`` record: 900 to 920, without 911.
CLEVERTAP_CODE = re.compile(r"9(0\d|1[02-9]|20)")
OTHER_ERROR = "900"
#: What a secret is replaced with in stored payloads.
MASK = "****"

#: Epoch seconds have 10 digits from 2001-09-09 to 2286-11-20.
_EARLIEST = datetime.fromtimestamp(1_000_000_000, UTC)
#: A vendor clock may run a little ahead of ours; a day ahead is a wrong time.
_AHEAD = timedelta(days=1)
_LIMITS = {
    "vendor_id": 128,
    "to": 32,
    "code": 8,
    "description": 512,
    "vendor_status": 64,
    "url": 2048,
    "short_url": 512,
    "incoming_text": 4096,
    "to_phone": 32,
}
_RAW_TEXT_LIMIT = 4096


@dataclass(frozen=True, slots=True)
class Report:
    """One delivery event, ready to be matched and stored.

    :param source: ``callback`` (pushed by the vendor) or ``lookup`` (asked for).
    :param received_at: when smsgate received it.
    """

    vendor_id: str
    kind: EventKind
    occurred_at: datetime
    received_at: datetime
    source: str = "callback"
    to: str | None = None
    code: str | None = None
    description: str | None = None
    vendor_status: str | None = None
    url: str | None = None
    short_url: str | None = None
    incoming_text: str | None = None
    to_phone: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The report as JSON-safe values, for the inbox."""
        return {
            "vendor_id": self.vendor_id,
            "kind": self.kind.value,
            "occurred_at": self.occurred_at.isoformat(),
            "received_at": self.received_at.isoformat(),
            "source": self.source,
            "to": self.to,
            "code": self.code,
            "description": self.description,
            "vendor_status": self.vendor_status,
            "url": self.url,
            "short_url": self.short_url,
            "incoming_text": self.incoming_text,
            "to_phone": self.to_phone,
            "raw": dict(self.raw),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Report:
        """The report :meth:`to_json` stored."""
        return cls(
            vendor_id=data["vendor_id"],
            kind=EventKind(data["kind"]),
            occurred_at=datetime.fromisoformat(data["occurred_at"]),
            received_at=datetime.fromisoformat(data["received_at"]),
            source=data.get("source", "callback"),
            to=data.get("to"),
            code=data.get("code"),
            description=data.get("description"),
            vendor_status=data.get("vendor_status"),
            url=data.get("url"),
            short_url=data.get("short_url"),
            incoming_text=data.get("incoming_text"),
            to_phone=data.get("to_phone"),
            raw=data.get("raw") or {},
        )

    def payload(self) -> dict[str, Any]:
        """What a message event keeps of this report, beside its kind, code and description."""
        kept = {
            "source": self.source,
            "vendor_id": self.vendor_id,
            "received_at": self.received_at.isoformat(),
            "raw": dict(self.raw),
        }
        for name in ("to", "vendor_status", "url", "short_url", "incoming_text", "to_phone"):
            value = getattr(self, name)
            if value is not None:
                kept[name] = value
        return kept


def normalise(
    event: DeliveryEvent,
    *,
    received_at: datetime,
    source: str = "callback",
    secrets: Iterable[str] = (),
) -> Report:
    """Check and bound ``event``; raises :class:`ValueError` for one that cannot be used."""
    if not isinstance(event, DeliveryEvent):
        raise ValueError(f"{type(event).__name__} is not a DeliveryEvent")
    vendor_id = _text(event.vendor_id, "vendor_id")
    if not vendor_id:
        raise ValueError("an event has no vendor_id")
    try:
        kind = EventKind(event.kind)
    except ValueError:
        raise ValueError(f"an event has the unknown kind {event.kind!r}") from None
    hidden = _secrets(secrets)
    # Only failures carry a code. A missing one stays missing (the message keeps any code it
    # has, and CleverTap gets 900 only if it has none); one CleverTap would refuse is 900.
    code = _text(event.code, "code") if kind is EventKind.FAILED else None
    if code is not None and not CLEVERTAP_CODE.fullmatch(code):
        code = OTHER_ERROR
    return Report(
        vendor_id=vendor_id,
        kind=kind,
        occurred_at=_moment(event.occurred_at, received_at),
        received_at=received_at,
        source=source,
        to=_text(event.to, "to"),
        code=code,
        description=_text(event.description, "description", hidden),
        vendor_status=_text(event.vendor_status, "vendor_status"),
        url=_text(event.url, "url", hidden),
        short_url=_text(event.short_url, "short_url", hidden),
        incoming_text=_text(event.incoming_text, "incoming_text"),
        to_phone=_text(event.to_phone, "to_phone"),
        raw=_json_object(mask(event.raw, hidden)),
    )


def secrets_of(*values: Any) -> list[str]:
    """Every secret in ``values``: the plain strings given, and any ``SecretStr`` in them,
    each also as URLs encode it."""
    found = [value for value in values if isinstance(value, str)]

    def walk(value: Any) -> None:
        if isinstance(value, SecretStr):
            found.append(value.get_secret_value())
        elif isinstance(value, BaseModel):
            for name in type(value).model_fields:
                walk(getattr(value, name))
        elif isinstance(value, Mapping):
            for item in value.values():
                walk(item)
        elif isinstance(value, list | tuple | set | frozenset):
            for item in value:
                walk(item)

    for value in values:
        walk(value)
    # A vendor may quote a secret back URL-encoded.
    return _secrets(form for value in found for form in spellings(value))


def mask(value: Any, secrets: Iterable[str]) -> Any:
    """``value`` as JSON-safe data, with every occurrence of a secret replaced by ``****``.

    What no database can store unchanged is written as a visible escape: NUL as
    ``\\u0000``, a lone surrogate as ``\\ud800``, bytes that are not UTF-8 as ``\\xff``,
    and NaN or an infinity (Python's json reads them, PostgreSQL's JSON refuses them) as
    the JSON text that carried it, ``NaN`` or ``Infinity``.
    """
    hidden = _secrets(secrets)
    plain = _plain_strings(value, hidden)
    if plain is not None:
        return plain

    def walk(item: Any) -> Any:
        if isinstance(item, float) and not math.isfinite(item):
            return json.dumps(item)
        if item is None or isinstance(item, bool | int | float):
            return item
        if isinstance(item, str):
            return _masked(escaped(item), hidden)[:_RAW_TEXT_LIMIT]
        if isinstance(item, bytes):
            text = item.decode("utf-8", "backslashreplace")
            return _masked(escaped(text), hidden)[:_RAW_TEXT_LIMIT]
        if isinstance(item, Mapping):
            kept: dict[str, Any] = {}
            for key, val in item.items():
                name = _masked(escaped(str(key)), hidden)
                # Two names that read alike once escaped or masked both keep their values.
                while name in kept:
                    name += "~"
                kept[name] = walk(val)
            return kept
        if isinstance(item, list | tuple | set | frozenset):
            return [walk(val) for val in item]
        if isinstance(item, SecretStr):
            return MASK
        return _masked(escaped(str(item)), hidden)[:_RAW_TEXT_LIMIT]

    return walk(value)


def _plain_strings(value: Any, secrets: list[str]) -> dict[str, str] | None:
    """``value`` clipped, if it is a flat mapping of clean text that holds no secret.

    What vendors send as raw fields nearly always is: then one look at all of its text
    replaces :func:`mask`'s checks field by field (:func:`normalise`: 32 → 19 µs a Pingbix
    report, measured). ``None`` means "take the long way", field by field.
    """
    if type(value) is not dict:
        return None
    texts = [*value, *value.values()]
    if not all(type(text) is str for text in texts):
        return None
    # NUL joins the texts, so that a secret cannot hide across two of them; a NUL inside
    # one (to be escaped) makes the count differ.
    joined = "\x00".join(texts)
    if joined.count("\x00") != len(texts) - 1:
        return None
    # ASCII text holds no lone surrogate; other text must encode to tell.
    if not joined.isascii():
        try:
            joined.encode("utf-8")
        except UnicodeEncodeError:
            return None
    if any(secret in joined for secret in secrets):
        return None
    return {key: text[:_RAW_TEXT_LIMIT] for key, text in value.items()}


def _secrets(values: Iterable[str]) -> list[str]:
    # Longest first, so that a secret containing another is masked whole. Very short
    # values would mask ordinary text and protect nothing.
    return sorted({value for value in values if len(value) >= 3}, key=len, reverse=True)


def _masked(text: str, secrets: list[str]) -> str:
    # Callers clip after masking, so that no part of a secret survives at the cut.
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


def _text(value: object, name: str, secrets: list[str] | None = None) -> str | None:
    if value is None:
        return None
    text = _storable(str(value), name).strip()
    if secrets:
        text = _masked(text, secrets)
    return text[: _LIMITS[name]] if text else None


def _storable(text: str, name: str) -> str:
    """``text``, if a database can store it unchanged; else :class:`ValueError`.

    Dropping what it cannot store would store something the vendor did not send
    (``tx\\x001`` would become ``tx1``, another message's id), so the report is refused.
    """
    problem = unstorable(text)
    if problem is not None:
        raise ValueError(f"{name} {problem}")
    return text


def _moment(value: object, received_at: datetime) -> datetime:
    if not isinstance(value, datetime):
        return received_at
    moment = value if value.tzinfo is not None else value.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    if moment < _EARLIEST or moment > received_at + _AHEAD:
        return received_at
    return moment


def _json_object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {"value": value}
