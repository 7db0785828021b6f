"""What must hold after any fault: the checks every fault test ends with, written once.

After a run has settled (:func:`settled`), :func:`assert_invariants` reads the database, the
vendor's own log of what it took (the Pingbix sandbox's ``/sandbox/requests`` and
``/sandbox/dlrs``), what the fake CleverTap accepted, and what the sending client was told,
and asserts:

1. Nothing was answered 202 without a commit: every record of a request answered 202 is
   stored. A request that got no answer (or an error) is stored whole or not at all.
2. Every stored message is settled: submitted exactly once at the vendor (under the id the
   vendor gave), or failed with a code and a reason (and the vendor never took it), or
   unknown with a reason (taken at most once). None was taken twice; the vendor took
   nothing the gateway did not store.
3. Every report reaches CleverTap exactly once: CleverTap holds one record per final
   tracked message, with the event of its status; nothing is left pending or dead in the
   relay outbox. A report the vendor pushed for a message whose vendor id the gateway never
   learned (an unknown message) waits in the inbox, kept, not relayed.

Only ``may_repeat`` (message ids in a POST to CleverTap that a SIGKILL cut short, which the
relay documents as the one way CleverTap can see a record twice) may reach CleverTap twice.

Texts must be unique per message: the vendor's log is matched to messages by text.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
import sqlalchemy as sa

from smsgate.storage.models import DeliveryInbox, Message, MessageStatus, RelayOutbox

MESSAGES = Message.__table__  # type: ignore[attr-defined]
INBOX = DeliveryInbox.__table__  # type: ignore[attr-defined]
OUTBOX = RelayOutbox.__table__  # type: ignore[attr-defined]
UNSETTLED = {MessageStatus.ACCEPTED.value, MessageStatus.SENDING.value}
FINAL = {MessageStatus.DELIVERED.value: "delivered", MessageStatus.FAILED.value: "failed"}


@dataclass
class Sent:
    """What the client playing CleverTap sent, and what it was told."""

    #: Message ids of the records in requests answered 202.
    answered: set[str] = field(default_factory=set)
    #: The message ids of each request that got no answer, or an error.
    unanswered: list[list[str]] = field(default_factory=list)

    def record(self, message_ids: Sequence[str], status: int | None) -> None:
        """Note one request's answer (``None``: none came)."""
        if status == 202:
            self.answered.update(message_ids)
        else:
            self.unanswered.append(list(message_ids))


@dataclass(frozen=True)
class Observed:
    """Everything the checks read, gathered after the run."""

    messages: list[Any]
    inbox: list[Any]
    outbox: list[Any]
    #: The vendor's log of send requests (``transactionId``, ``msg``, ``accepted`` ...).
    vendor: list[dict[str, Any]]
    #: The delivery reports the vendor pushed (``params``, ``delivered`` ...).
    dlrs: list[dict[str, Any]]
    #: CleverTap's accepted records, each with its ``event``.
    clevertap: list[dict[str, Any]]


@dataclass(frozen=True)
class Summary:
    """What the run came to, for tests to assert on and report."""

    stored: int
    statuses: Counter[str]
    relayed: int
    repeated: frozenset[str]
    waiting_reports: int


def observe(
    engine: sa.Engine, vendor_url: str, clevertap: Sequence[dict[str, Any]] = ()
) -> Observed:
    """Read the database and the vendor's log; ``clevertap`` is what CleverTap accepted (the
    fake's ``records()``)."""
    with engine.connect() as connection:
        messages = list(connection.execute(sa.select(MESSAGES).order_by(MESSAGES.c.id)))
        inbox = list(connection.execute(sa.select(INBOX)))
        outbox = list(connection.execute(sa.select(OUTBOX)))
    vendor = httpx.get(f"{vendor_url}/sandbox/requests", timeout=30).json()["requests"]
    dlrs = httpx.get(f"{vendor_url}/sandbox/dlrs", timeout=30).json()["dlrs"]
    return Observed(messages, inbox, outbox, vendor, dlrs, list(clevertap))


def settled(engine: sa.Engine, vendor_url: str, *, reports: bool = True) -> bool:
    """Whether the run is over: every message settled and, with ``reports``, every report the
    vendor took pushed, matched where it can be, and relayed."""
    taken: set[str] | None = None
    if reports:
        log = httpx.get(f"{vendor_url}/sandbox/requests", timeout=30).json()["requests"]
        pushed = httpx.get(f"{vendor_url}/sandbox/dlrs", timeout=30).json()["dlrs"]
        taken = {request["transactionId"] for request in log if request["accepted"]}
        if len(pushed) < len(taken):
            return False
    # Read after the vendor: a report it counts as pushed is committed here by then.
    with engine.connect() as connection:
        if taken is not None:
            # A message sent after the vendor's log was read has no report counted yet.
            submitted = connection.execute(
                sa.select(MESSAGES.c.vendor_id).where(MESSAGES.c.vendor_id.is_not(None))
            ).scalars()
            if not set(submitted) <= taken:
                return False
        unsettled = connection.execute(
            sa.select(sa.func.count()).select_from(MESSAGES).where(MESSAGES.c.status.in_(UNSETTLED))
        ).scalar_one()
        pending = connection.execute(
            sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.state == "pending")
        ).scalar_one()
        matchable = connection.execute(
            sa.select(sa.func.count()).select_from(
                INBOX.join(MESSAGES, INBOX.c.vendor_id == MESSAGES.c.vendor_id)
            )
        ).scalar_one()
    return not (unsettled or pending or matchable)


def assert_invariants(seen: Observed, sent: Sent, *, may_repeat: Collection[str] = ()) -> Summary:
    """Assert the three invariants of the module docstring; what the run came to."""
    stored = {row.message_id: row for row in seen.messages}
    _nothing_answered_without_a_commit(stored, sent)
    _each_message_once_or_explained(seen, stored)
    repeated = _each_report_once(seen, stored, may_repeat)
    return Summary(
        stored=len(stored),
        statuses=Counter(row.status for row in seen.messages),
        relayed=len(seen.clevertap),
        repeated=repeated,
        waiting_reports=len(seen.inbox),
    )


def _nothing_answered_without_a_commit(stored: dict[str, Any], sent: Sent) -> None:
    lost = sent.answered - stored.keys()
    assert not lost, f"answered 202 but not stored: {sorted(lost)[:10]}"
    for request in sent.unanswered:
        if sent.answered.intersection(request):
            continue  # sent again later and answered: checked above
        kept = stored.keys() & set(request)
        assert kept in (set(), set(request)), (
            f"a request without an answer was stored in part: {len(kept)} of {len(request)}"
        )
    unknown = stored.keys() - sent.answered - {i for request in sent.unanswered for i in request}
    assert not unknown, f"stored but never sent: {sorted(unknown)[:10]}"


def _each_message_once_or_explained(seen: Observed, stored: dict[str, Any]) -> None:
    by_text = {row.body: row for row in seen.messages}
    assert len(by_text) == len(seen.messages), "texts must be unique per message"
    taken: dict[str, list[str]] = {}
    for request in seen.vendor:
        if request["accepted"]:
            assert request["msg"] in by_text, f"the vendor took a text never stored: {request}"
            taken.setdefault(request["msg"], []).append(request["transactionId"])
    for row in seen.messages:
        ids = taken.get(row.body, [])
        where = f"{row.message_id} ({row.status}, vendor id {row.vendor_id})"
        assert row.status not in UNSETTLED, f"not settled: {where}"
        assert len(ids) <= 1, f"taken {len(ids)} times by the vendor: {where}"
        if row.vendor_id is not None:
            assert ids == [row.vendor_id], f"submitted, but the vendor's log says {ids}: {where}"
        elif row.status == MessageStatus.UNKNOWN:
            assert row.failure_description, f"unknown without a reason: {where}"
        else:
            assert row.status == MessageStatus.FAILED, f"no vendor id: {where}"
            assert row.failure_code and row.failure_description, f"failed, no reason: {where}"
            assert not ids, f"failed, yet the vendor took it: {where}"


def _each_report_once(
    seen: Observed, stored: dict[str, Any], may_repeat: Collection[str]
) -> frozenset[str]:
    expected = {
        (FINAL[row.status], row.message_id)
        for row in seen.messages
        if row.status in FINAL and row.tracked
    }
    received = Counter((record["event"], record["meta"]) for record in seen.clevertap)
    missing = expected - received.keys()
    extra = received.keys() - expected
    assert not missing, f"never reached CleverTap: {sorted(missing)[:10]}"
    assert not extra, f"CleverTap got records for no final message: {sorted(extra)[:10]}"
    repeated = {meta for (_, meta), count in received.items() if count > 1}
    assert repeated <= set(may_repeat), (
        f"reached CleverTap more than once: {sorted(repeated - set(may_repeat))[:10]}"
    )
    states = Counter(row.state for row in seen.outbox)
    assert set(states) <= {"done"}, f"relay rows not done: {dict(states)}"

    by_vendor_id = {row.vendor_id: row for row in seen.messages if row.vendor_id}
    waiting = {row.vendor_id for row in seen.inbox}
    for dlr in seen.dlrs:
        if not dlr["delivered"]:
            continue  # the gateway never said it had it; nothing to hold it to
        params = {key.lower(): value for key, value in dlr["params"].items()}
        vendor_id = params["transactionid"]
        row = by_vendor_id.get(vendor_id)
        if row is None:
            assert vendor_id in waiting, f"a report for {vendor_id} was neither matched nor kept"
            continue
        event = "delivered" if params["errorcode"] == "000" else "failed"
        assert FINAL.get(row.status) == event, f"{row.message_id}: {row.status}, report {event}"
    return frozenset(repeated)


def wait_for(condition: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    """Poll ``condition`` until it is true; fail after ``seconds``."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {seconds:g} s waiting for {what}"
        time.sleep(0.1)
