"""What CleverTap's Generic SMS callback accepts, and what its answers mean.

The body is a JSON array of event groups, ``[{"event": "delivered", "data": [record, …]},
…]``; every record has ``ts`` (10-digit epoch seconds of the vendor's event) and ``meta``
(the exact ``$$MessageID``). ``failed`` records carry ``code`` (a string, "900" to "920")
and ``description``; ``delivered`` ones a ``description``; ``clicked`` ones ``url`` and
``shorturl``; ``replied`` ones ``incomingText`` (at most 512 characters) and ``toPhone``.
See the research notes, clevertap.md section 3.

Answers: 200 means done, except the records a 200 lists under ``unprocessed`` (CleverTap
refused them: they are dead, with its reason, and never sent again), and a 200 whose body
says nothing was processed (``status`` fail or error, or ``processed`` 0, as both revisions
of CleverTap's error bodies put it): the whole batch is refused. 5xx, 408 and 429 mean
try again later; any other 4xx (and a redirect, which points at a wrong URL) means the whole
batch is refused and stays visible as dead.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from smsgate.http import retry_after_seconds

__all__ = [
    "EVENTS",
    "Answer",
    "Judgement",
    "batch_body",
    "clicked_record",
    "delivered_record",
    "epoch_seconds",
    "failed_record",
    "judge_answer",
    "records_by_meta",
    "replied_record",
]

#: CleverTap's events, in the order a batch lists them.
EVENTS = ("delivered", "failed", "clicked", "replied")
#: CleverTap keeps at most this much of a reply.
INCOMING_TEXT_LIMIT = 512
#: Statuses that say "not now" rather than "not this".
_RETRY_STATUSES = frozenset({408, 425, 429})
_ERROR_LIMIT = 512


def epoch_seconds(moment: datetime) -> int:
    """``moment`` as whole epoch seconds, CleverTap's ``ts``."""
    return int(moment.timestamp())


def delivered_record(meta: str, ts: int, description: str | None) -> dict[str, Any]:
    """A ``delivered`` record."""
    return {"ts": ts, "meta": meta, "description": description or "Delivered"}


def failed_record(meta: str, ts: int, code: str, description: str | None) -> dict[str, Any]:
    """A ``failed`` record; ``code`` must already be one CleverTap accepts."""
    return {"ts": ts, "meta": meta, "code": code, "description": description or "Failed"}


def clicked_record(meta: str, ts: int, url: str, short_url: str | None) -> dict[str, Any]:
    """A ``clicked`` record."""
    record: dict[str, Any] = {"ts": ts, "meta": meta, "url": url}
    if short_url:
        record["shorturl"] = short_url
    return record


def replied_record(meta: str, ts: int, text: str, to_phone: str | None) -> dict[str, Any]:
    """A ``replied`` record, the text cut to CleverTap's 512 characters."""
    record: dict[str, Any] = {"ts": ts, "meta": meta, "incomingText": text[:INCOMING_TEXT_LIMIT]}
    if to_phone:
        record["toPhone"] = to_phone
    return record


def batch_body(rows: Iterable[tuple[str, Mapping[str, Any]]]) -> list[dict[str, Any]]:
    """The POST body for ``(event, record)`` pairs: one group per event, in :data:`EVENTS` order."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for event, record in rows:
        groups.setdefault(event, []).append(record)
    order = [event for event in EVENTS if event in groups] + sorted(set(groups) - set(EVENTS))
    return [{"event": event, "data": [dict(record) for record in groups[event]]} for event in order]


class Judgement(StrEnum):
    """What an answer means for the batch as a whole."""

    DONE = "done"
    RETRY = "retry"
    DEAD = "dead"


@dataclass(frozen=True, slots=True)
class Answer:
    """CleverTap's answer, judged.

    :param refused: with :attr:`Judgement.DONE`, the records CleverTap listed as
        unprocessed, as ``(event or None, meta) -> reason``; ``None`` as the event means
        "whatever event this meta was sent under".
    """

    judgement: Judgement
    reason: str | None = None
    retry_after: float | None = None
    refused: Mapping[tuple[str | None, str], str] = field(default_factory=dict)


def judge_answer(status: int, body: bytes, headers: Mapping[str, str] | None = None) -> Answer:
    """What CleverTap's HTTP answer ``status`` with ``body`` means for the batch."""
    text = body[:_ERROR_LIMIT].decode("utf-8", "replace").strip()
    if 200 <= status < 300:
        document = _json(body)
        if _processed_nothing(document):
            return Answer(
                Judgement.DEAD, _clip(f"CleverTap answered HTTP {status} but took nothing: {text}")
            )
        return Answer(Judgement.DONE, refused=_unprocessed(document))
    if status >= 500 or status in _RETRY_STATUSES:
        after = retry_after_seconds(
            (headers or {}).get("retry-after", ""), (headers or {}).get("date", "")
        )
        return Answer(Judgement.RETRY, _clip(f"CleverTap answered HTTP {status}: {text}"), after)
    if 300 <= status < 400:
        where = (headers or {}).get("location", "")
        return Answer(
            Judgement.DEAD,
            _clip(f"CleverTap redirected (HTTP {status}) to {where}; check clevertap_callback_url"),
        )
    return Answer(Judgement.DEAD, _clip(f"CleverTap refused the batch (HTTP {status}): {text}"))


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None


def _processed_nothing(answer: Any) -> bool:
    if not isinstance(answer, dict):
        return False
    status = answer.get("status")
    if isinstance(status, str) and status.strip().lower() in {"fail", "failed", "error"}:
        return True
    processed = answer.get("processed")
    return processed == 0 or processed == "0"


def _unprocessed(answer: Any) -> dict[tuple[str | None, str], str]:
    items = answer.get("unprocessed") if isinstance(answer, dict) else None
    if not isinstance(items, list):
        return {}
    refused: dict[tuple[str | None, str], str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        reason = _reason(item)
        for key in _records(item.get("record")):
            refused[key] = reason
    return refused


def _reason(item: Mapping[str, Any]) -> str:
    words = item.get("error") or item.get("message") or item.get("status") or "unprocessed"
    code = item.get("code")
    text = f"CleverTap did not process it ({code}): {words}" if code else str(words)
    return _clip(text)


def _records(record: Any, event: str | None = None) -> list[tuple[str | None, str]]:
    """The ``(event, meta)`` pairs an unprocessed entry's ``record`` names."""
    if isinstance(record, str):
        try:
            record = json.loads(record)
        except ValueError:
            return []
    if isinstance(record, list):
        return [key for item in record for key in _records(item, event)]
    if not isinstance(record, dict):
        return []
    if isinstance(record.get("data"), list | dict):
        group_event = record.get("event")
        return _records(record["data"], group_event if isinstance(group_event, str) else event)
    meta = record.get("meta")
    if isinstance(meta, str):
        own = record.get("event")
        return [(own if isinstance(own, str) else event, meta)]
    return []


def _clip(text: str) -> str:
    return text[:_ERROR_LIMIT]


def records_by_meta(
    rows: Sequence[tuple[int, str, Mapping[str, Any]]],
    refused: Mapping[tuple[str | None, str], str],
) -> dict[int, str]:
    """Which of ``(row id, event, record)`` CleverTap refused, with its reason."""
    dead: dict[int, str] = {}
    for row_id, event, record in rows:
        meta = record.get("meta")
        if not isinstance(meta, str):
            continue
        reason = refused.get((event, meta)) or refused.get((None, meta))
        if reason is not None:
            dead[row_id] = reason
    return dead
