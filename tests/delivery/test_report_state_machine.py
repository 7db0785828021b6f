"""Random orders and duplicates of reports and send results, against the real database.

Hypothesis drives one message through any interleaving of: a vendor report (buffered,
delivered, failed with or without a code, a click or a reply at one of a few times), a
repeat of an earlier report, several earlier reports stored in one transaction (as
concurrent requests are), the send result that stores the vendor id (through the
dispatcher's own transaction, which matches early reports), a repeat of the send result's
matching, and the inbox sweep. After every step the stored state must equal what a simple
model says: the status is the highest-ranked report's, the first final report wins, a code
once stored stays, CleverTap's final event is queued at most once and each distinct click
and reply once (a repeat adds nothing), only for what happened, and every report is kept
somewhere.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from delivery_helpers import EVENTS, INBOX
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)
from message_builders import MESSAGES, OUTBOX, START, accept, dispatch, report

from smsgate.delivery.matching import match_inbox, store_groups, store_reports, sweep_inbox
from smsgate.delivery.reports import Report
from smsgate.types import EventKind

RANK = {"accepted": 0, "submitted": 20, "buffered": 30, "delivered": 100, "failed": 100}
KINDS = [
    EventKind.BUFFERED,
    EventKind.DELIVERED,
    EventKind.FAILED,
    EventKind.CLICKED,
    EventKind.REPLIED,
]
_REPEATABLE = (EventKind.CLICKED, EventKind.REPLIED)
REPORT_KINDS = [kind.value for kind in KINDS]


class ReportMachine(RuleBasedStateMachine):
    """One message, its reports and its send result, in any order."""

    engine: sa.Engine

    reports = Bundle("reports")

    def __init__(self) -> None:
        super().__init__()
        tag = uuid.uuid4().hex[:10]
        # A nickname of its own keeps examples apart without emptying the tables.
        self.nickname = f"n{tag}"
        self.message_id = f"m-{tag}."
        self.vendor_id = f"tx-{tag}"
        accept(self.engine, [self.message_id], nickname=self.nickname)
        with self.engine.connect() as connection:
            self.pk = connection.execute(
                sa.select(MESSAGES.c.id).where(MESSAGES.c.message_id == self.message_id)
            ).scalar_one()
        self.now = START
        self.sent = False
        self.waiting: list[Report] = []
        self.status = "accepted"
        self.code: str | None = None
        #: The distinct clicks and replies matched so far: (event, second).
        self.clicks_and_replies: set[tuple[str, int]] = set()
        self.delivered_reports = 0
        self.highest_rank_seen = 0

    # --- the model -------------------------------------------------------------------

    def _model(self, item: Report) -> None:
        if not self.sent:
            self.waiting.append(item)
            return
        if item.kind in _REPEATABLE:
            second = int((item.occurred_at - START).total_seconds())
            self.clicks_and_replies.add((item.kind.value, second))
            return
        target = item.kind.value
        if RANK[target] > RANK[self.status]:
            self.status = target
            if item.kind is EventKind.FAILED and item.code is not None:
                self.code = item.code

    def _tick(self) -> None:
        self.now += timedelta(seconds=1)

    # --- rules -------------------------------------------------------------------------

    @rule(
        target=reports,
        kind=st.sampled_from(KINDS),
        code=st.none() | st.sampled_from(["901", "914", "916"]),
        # A few seconds only: the same click or reply comes again by chance as well.
        second=st.integers(min_value=0, max_value=3),
    )
    def vendor_reports(self, kind: EventKind, code: str | None, second: int) -> Report:
        fields: dict[str, Any] = {"code": code} if kind is EventKind.FAILED else {}
        if kind is EventKind.CLICKED:
            fields = {"url": "https://acme.in/x"}
        if kind is EventKind.REPLIED:
            fields = {"incoming_text": "STOP"}
        item = report(self.vendor_id, kind, at=START + timedelta(seconds=second), **fields)
        self._deliver(item)
        return item

    @rule(item=reports)
    def vendor_repeats_a_report(self, item: Report) -> None:
        self._deliver(item)

    @rule(items=st.lists(reports, min_size=2, max_size=4))
    def several_requests_are_stored_in_one_transaction(self, items: list[Report]) -> None:
        # Group commit: concurrent requests share a transaction, in arrival order.
        self._tick()
        store_groups(self.engine, [(self.nickname, [item]) for item in items], self.now)
        for item in items:
            self.delivered_reports += 1
            self._model(item)

    @rule()
    def send_result_lands(self) -> None:
        self._tick()
        if not self.sent:
            dispatch(
                self.engine,
                self.now,
                submitted={self.message_id: self.vendor_id},
                nickname=self.nickname,
            )
            self.sent = True
            self.status = "submitted"
            for item in self.waiting:
                self._model(item)
            self.waiting = []
        else:
            # A second result for the same message (another worker, a retried commit):
            # its matching finds nothing left to do.
            with self.engine.begin() as connection:
                match_inbox(connection, [self.pk], self.now)

    @rule()
    def inbox_is_swept(self) -> None:
        self._tick()
        sweep_inbox(self.engine, self.now, retention=72 * 3600)

    def _deliver(self, item: Report) -> None:
        self._tick()
        store_reports(self.engine, self.nickname, [item], self.now)
        self.delivered_reports += 1
        self._model(item)

    # --- invariants ----------------------------------------------------------------------

    def _row(self) -> sa.Row:
        with self.engine.connect() as connection:
            return connection.execute(sa.select(MESSAGES).where(MESSAGES.c.id == self.pk)).one()

    @invariant()
    def status_is_the_models_and_never_moves_down(self) -> None:
        row = self._row()
        assert row.status == self.status
        assert row.status_rank >= self.highest_rank_seen
        self.highest_rank_seen = row.status_rank

    @invariant()
    def a_stored_code_is_the_first_final_failures_and_stays(self) -> None:
        assert self._row().failure_code == (self.code if self.status == "failed" else None)

    @invariant()
    def clevertap_gets_each_event_at_most_once_and_only_what_happened(self) -> None:
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(OUTBOX.c.event, OUTBOX.c.record).where(OUTBOX.c.message_pk == self.pk)
            ).all()
        start = int(START.timestamp())
        relayed = sorted(
            (row.event, row.record["ts"] - start if row.event in ("clicked", "replied") else 0)
            for row in rows
        )
        final = [(self.status, 0)] if self.status in ("delivered", "failed") else []
        assert relayed == sorted(final + list(self.clicks_and_replies))
        for row in rows:
            assert row.record["meta"] == self.message_id
            if row.event == "failed":
                assert row.record["code"] == (self.code or "900")

    @invariant()
    def every_report_is_kept_as_an_event_or_waits_in_the_inbox(self) -> None:
        with self.engine.connect() as connection:
            kept = connection.execute(
                sa.select(sa.func.count())
                .select_from(EVENTS)
                .where(EVENTS.c.message_pk == self.pk, EVENTS.c.kind.in_(REPORT_KINDS))
            ).scalar_one()
            waiting = connection.execute(
                sa.select(sa.func.count())
                .select_from(INBOX)
                .where(INBOX.c.nickname == self.nickname)
            ).scalar_one()
        assert kept + waiting == self.delivered_reports
        assert waiting == len(self.waiting)


def test_any_order_of_reports_duplicates_and_send_results_keeps_the_invariants(engine):
    ReportMachine.engine = engine
    run_state_machine_as_test(
        ReportMachine,
        settings=settings(max_examples=30, stateful_step_count=12, deadline=None),
    )
