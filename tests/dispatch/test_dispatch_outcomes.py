"""Each outcome of a send, as stored: submitted, retry, failed, unknown, expired (both DBs)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from dispatch_helpers import Rig, RigFactory, events, kinds, message, messages, provider_toml, texts
from fakevendor import Fault
from message_builders import store_report

from smsgate.dispatch import queue
from smsgate.dispatch.outcomes import Decision
from smsgate.dispatch.throttle import Verdict
from smsgate.http import NOT_STARTED
from smsgate.storage.models import MessageStatus
from smsgate.types import EventKind

pytest_plugins = ["dispatch_fixtures"]


def test_submitted_message_keeps_the_vendor_id(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.accept(texts(1))

    report = rig.dispatch()

    row = message(rig.engine, "m0")
    assert report.submitted == 1
    assert row.status == MessageStatus.SUBMITTED
    assert row.vendor_id == "fv-1"
    assert row.attempts == 1
    assert row.lease_owner is None
    assert kinds(rig.engine, "m0") == ["sending", "submitted"]
    assert events(rig.engine, "m0")[-1].payload["vendor_id"] == "fv-1"
    assert rig.vendor.received() == {"m0": 1}


def test_a_503_schedules_a_retry_with_jittered_backoff_then_sends(make_rig: RigFactory) -> None:
    rig = make_rig(backoff_base=2.0)
    rig.accept(texts(1))
    rig.vendor.fail_next(Fault(503))

    rig.dispatch()

    row = message(rig.engine, "m0")
    assert row.status == MessageStatus.ACCEPTED
    assert row.attempts == 1
    # First retry: random(0, base * 2**0) with the jitter source at 0.5.
    assert row.next_attempt_at == rig.clock() + timedelta(seconds=1.0)
    assert "503" in row.failure_description
    assert rig.dispatch().claimed == 0  # not due yet

    rig.clock.advance(1.0)
    rig.dispatch()

    row = message(rig.engine, "m0")
    assert row.status == MessageStatus.SUBMITTED
    assert row.attempts == 2
    assert kinds(rig.engine, "m0") == ["sending", "retry", "sending", "submitted"]


def test_backoff_doubles_per_attempt_up_to_the_cap(make_rig: RigFactory) -> None:
    rig = make_rig(backoff_base=1.0, backoff_cap=5.0, max_attempts=10)
    rig.accept(texts(1))
    rig.vendor.standing = Fault(503)
    rig.jitter.append(0.999)

    delays = []
    for _ in range(5):
        before = rig.clock()
        rig.dispatch()
        row = message(rig.engine, "m0")
        delays.append(round((row.next_attempt_at - before).total_seconds(), 2))
        rig.clock.now = row.next_attempt_at

    assert delays == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_retry_after_from_the_vendor_is_honoured(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.accept(texts(1))
    rig.vendor.fail_next(Fault(429, retry_after="120"))

    rig.dispatch()

    row = message(rig.engine, "m0")
    assert row.next_attempt_at == rig.clock() + timedelta(seconds=120)
    rig.clock.advance(119)
    assert rig.dispatch().claimed == 0
    rig.clock.advance(1)
    assert rig.dispatch().submitted == 1


def test_retries_end_with_904_after_max_attempts(make_rig: RigFactory) -> None:
    rig = make_rig(max_attempts=3)
    rig.accept(texts(1))
    rig.vendor.standing = Fault(502)
    rig.jitter.append(0.0)

    for _ in range(3):
        rig.dispatch()

    row = message(rig.engine, "m0")
    assert row.status == MessageStatus.FAILED
    assert row.failure_code == "904"
    assert "gave up after 3 attempts" in row.failure_description
    assert rig.vendor.received() == {"m0": 3}
    assert rig.dispatch().claimed == 0


def test_by_default_a_vendor_down_for_an_hour_costs_no_message(make_rig: RigFactory) -> None:
    # Retries and the circuit's probes wait it out; only the message's validity ends them.
    rig = make_rig()
    rig.accept(texts(2))
    rig.vendor.standing = Fault(502)
    rig.jitter.append(1.0)  # the longest backoff each time: the fewest tries
    for _ in range(3600 // 30):
        rig.dispatch()
        rig.clock.advance(30)
    assert {row.status for row in messages(rig.engine)} == {MessageStatus.ACCEPTED}

    rig.vendor.standing = None
    rig.clock.advance(300)
    for _ in range(4):
        rig.dispatch()
        rig.clock.advance(30)

    assert {row.status for row in messages(rig.engine)} == {MessageStatus.SUBMITTED}


def test_vendor_refusal_fails_with_its_clevertap_code(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.accept(texts(1, body="[invalid] hello"))

    rig.dispatch()

    row = message(rig.engine, "m0")
    assert row.status == MessageStatus.FAILED
    assert row.failure_code == "910"
    assert row.failure_description == "invalid number"
    assert events(rig.engine, "m0")[-1].code == "910"


def test_message_refused_by_the_plugin_fails_without_reaching_the_vendor(
    make_rig: RigFactory,
) -> None:
    rig = make_rig()
    rig.accept([{"to": "9845012345", "template_id": "1107", "message_id": "t0"}])

    rig.dispatch()

    row = message(rig.engine, "t0")
    assert (row.status, row.failure_code) == (MessageStatus.FAILED, "908")
    assert rig.vendor.received() == {}


def test_a_500_leaves_the_message_unknown_and_it_is_never_resent(make_rig: RigFactory) -> None:
    rig = make_rig()
    rig.accept(texts(1))
    rig.vendor.fail_next(Fault(500))

    rig.dispatch()
    rig.clock.advance(3600)
    again = rig.dispatch()

    row = message(rig.engine, "m0")
    assert row.status == MessageStatus.UNKNOWN
    assert row.failure_description == "vendor said 500"
    assert again.claimed == 0
    assert rig.vendor.received() == {"m0": 1}


def test_a_read_timeout_leaves_the_message_unknown(make_rig: RigFactory, vendor) -> None:
    rig = make_rig(providers=provider_toml("fake", vendor.url, read_timeout=0.2))
    rig.accept(texts(1))
    rig.vendor.fail_next(Fault(delay=1.0))

    rig.dispatch()

    row = message(rig.engine, "m0")
    assert row.status == MessageStatus.UNKNOWN
    assert "ReadTimeout" in row.failure_description


def test_a_batch_cut_short_by_send_timeout_keeps_what_the_vendor_answered(
    make_rig: RigFactory, vendor
) -> None:
    rig = make_rig(
        providers=provider_toml("fake", vendor.url, concurrency=1), send_timeout=2.0, lease=30
    )
    rig.accept(texts(3))
    # One at a time: m0 is answered at once, m1 hangs past send_timeout, m2 waits its turn.
    rig.vendor.fail_next(Fault(), Fault(delay=4.0))

    report = rig.dispatch()

    assert (report.submitted, report.unknown, report.retried) == (1, 1, 1)
    submitted, hung, waiting = (message(rig.engine, f"m{n}") for n in range(3))
    assert (submitted.status, submitted.vendor_id) == (MessageStatus.SUBMITTED, "fv-1")
    assert hung.status == MessageStatus.UNKNOWN
    assert "send_timeout" in hung.failure_description
    assert waiting.status == MessageStatus.ACCEPTED
    assert waiting.failure_description == NOT_STARTED
    assert rig.vendor.received() == {"m0": 1, "m1": 1}


def test_a_message_older_than_its_validity_fails_with_916_unsent(make_rig: RigFactory) -> None:
    rig = make_rig(validity=600)
    rig.accept(texts(1))
    rig.clock.advance(600)

    report = rig.dispatch()

    row = message(rig.engine, "m0")
    assert report.expired == 1
    assert (row.status, row.failure_code) == (MessageStatus.FAILED, "916")
    assert row.attempts == 0
    assert rig.vendor.received() == {}


def test_a_retry_due_after_the_validity_fails_with_916_now(make_rig: RigFactory) -> None:
    rig = make_rig(validity=60)
    rig.accept(texts(1))
    rig.vendor.fail_next(Fault(503, retry_after="90"))

    rig.dispatch()

    row = message(rig.engine, "m0")
    assert (row.status, row.failure_code) == (MessageStatus.FAILED, "916")


@pytest.mark.parametrize(
    ("mistake", "logged"),
    [
        ("raise_in_build", "build_payload bug"),
        # Not a request: caught as it is built, not when the lease runs out as "unknown".
        ("requests_as_dicts", "BuiltPayload.requests must hold VendorRequest objects, not dict"),
    ],
)
def test_a_plugin_failing_to_build_its_requests_retries_the_whole_group(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture, mistake: str, logged: str
) -> None:
    rig = make_rig()
    rig.accept(texts(3))
    setattr(rig.plugin, mistake, True)

    report = rig.dispatch()

    assert report.retried == 3
    assert {message(rig.engine, f"m{i}").status for i in range(3)} == {MessageStatus.ACCEPTED}
    assert logged in caplog.text
    assert rig.vendor.requests == []
    setattr(rig.plugin, mistake, False)
    rig.clock.advance(10)
    assert rig.dispatch().submitted == 3


def test_a_plugin_raising_in_send_batch_makes_every_message_unknown(
    make_rig: RigFactory,
) -> None:
    rig = make_rig()
    rig.accept(texts(3))
    rig.plugin.raise_in_send = True

    report = rig.dispatch()

    assert report.unknown == 3
    row = message(rig.engine, "m1")
    assert row.status == MessageStatus.UNKNOWN
    assert "send_batch" in row.failure_description


def test_results_a_plugin_returns_as_plain_text_and_numbers_are_taken_as_meant(
    make_rig: RigFactory,
) -> None:
    rig = make_rig()
    rig.accept(texts(2))
    rig.plugin.plain_values = True

    report = rig.dispatch()
    rig.clock.advance(3600)
    again = rig.dispatch()

    assert report.submitted == 2
    assert again.claimed == 0
    assert {message(rig.engine, f"m{i}").status for i in range(2)} == {MessageStatus.SUBMITTED}
    assert {message(rig.engine, f"m{i}").vendor_id for i in range(2)} == {"1", "2"}
    assert rig.vendor.received() == {"m0": 1, "m1": 1}


def test_results_told_to_progress_stand_when_send_batch_returns_fewer(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    rig.accept(texts(3))
    rig.plugin.return_only_first = True

    report = rig.dispatch()

    assert report.submitted == 3
    assert {message(rig.engine, f"m{i}").vendor_id for i in range(3)} == {"fv-1", "fv-2", "fv-3"}
    assert "returned no result for 2 of the 3 messages" in caplog.text


def test_an_expired_lease_is_reclaimed_as_unknown_with_a_reason(make_rig: RigFactory) -> None:
    rig = make_rig(lease=30, send_timeout=10)
    rig.accept(texts(2))
    claim = queue.claim(
        rig.engine, queue.Route("fake"), owner="dead-worker", now=rig.clock(), settings=rig.settings
    )
    assert len(claim.messages) == 2

    rig.clock.advance(29)
    assert rig.run(lambda d: d.reclaim()) == 0
    rig.clock.advance(2)
    assert rig.run(lambda d: d.reclaim()) == 2

    row = message(rig.engine, "m0")
    assert row.status == MessageStatus.UNKNOWN
    assert row.failure_description == queue.LEASE_EXPIRED
    assert kinds(rig.engine, "m0") == ["sending", "unknown"]
    assert rig.dispatch().claimed == 0


class _Zombie:
    """A worker that claimed the rig's messages, froze past its lease, and answers late."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.route = queue.Route("fake")
        self.claim = queue.claim(
            rig.engine, self.route, owner="zombie", now=rig.clock(), settings=rig.settings
        )
        rig.clock.advance(rig.settings.lease + 1)
        rig.run(lambda d: d.reclaim())

    def answers_submitted(self, vendor_id: str) -> queue.Recorded:
        """Record, too late, that the vendor took the first claimed message as ``vendor_id``."""
        first = self.claim.messages[0].id
        return self._answers(
            Decision(first, MessageStatus.SUBMITTED, "submitted", 1, vendor_id=vendor_id)
        )

    def answers_refused(self, code: str) -> queue.Recorded:
        """Record, too late, that the vendor refused the first claimed message for ``code``."""
        first = self.claim.messages[0].id
        return self._answers(
            Decision(first, MessageStatus.FAILED, "failed", 1, code=code, description="DND")
        )

    def _answers(self, decision: Decision) -> queue.Recorded:
        return queue.record(
            self.rig.engine,
            self.route,
            [decision],
            owner="zombie",
            now=self.rig.clock(),
            verdict=Verdict.HEALTHY,
            reason=None,
            settings=self.rig.settings,
        )


def test_a_worker_whose_lease_was_reclaimed_cannot_resend_the_message_but_gives_its_id(
    make_rig: RigFactory,
) -> None:
    rig = make_rig(lease=30, send_timeout=10)
    rig.accept(texts(1))

    late = _Zombie(rig).answers_submitted("v9")

    row = message(rig.engine, "m0")
    assert late.applied == 0 and late.late == 1
    # Not resent; but the vendor took it, and its delivery report can now find it.
    assert row.status == MessageStatus.SUBMITTED
    assert row.vendor_id == "v9"
    assert kinds(rig.engine, "m0") == ["sending", "unknown", "late_result"]
    assert events(rig.engine, "m0")[-1].payload["vendor_id"] == "v9"


def test_a_report_waiting_for_a_reclaimed_message_settles_it_when_the_late_result_comes(
    make_rig: RigFactory,
) -> None:
    rig = make_rig(lease=30, send_timeout=10)
    rig.accept(texts(1))
    zombie = _Zombie(rig)
    store_report(rig.engine, "v9", EventKind.DELIVERED, rig.clock(), nickname="fake")

    zombie.answers_submitted("v9")

    assert message(rig.engine, "m0").status == MessageStatus.DELIVERED


def test_a_refusal_that_comes_after_the_lease_fails_the_message_and_tells_clevertap(
    make_rig: RigFactory,
) -> None:
    rig = make_rig(lease=30, send_timeout=10)
    rig.accept(texts(1))

    _Zombie(rig).answers_refused("901")

    row = message(rig.engine, "m0")
    assert (row.status, row.failure_code) == (MessageStatus.FAILED, "901")
    outbox = sa.table("relay_outbox", sa.column("message_pk"), sa.column("event"))
    with rig.engine.connect() as connection:
        queued = connection.execute(sa.select(outbox.c.message_pk, outbox.c.event)).all()
    assert [tuple(row) for row in queued] == [(message(rig.engine, "m0").id, "failed")]


def test_a_late_result_naming_an_id_another_message_holds_gives_it_to_neither(
    make_rig: RigFactory,
) -> None:
    rig = make_rig(lease=30, send_timeout=10)
    rig.accept(texts(1))
    zombie = _Zombie(rig)
    rig.accept(texts(1, prefix="n"))
    rig.dispatch()

    zombie.answers_submitted(message(rig.engine, "n0").vendor_id)

    row = message(rig.engine, "m0")
    assert (row.status, row.vendor_id) == (MessageStatus.UNKNOWN, None)


def test_final_failures_and_expiries_are_queued_for_clevertap(make_rig: RigFactory) -> None:
    rig = make_rig(validity=600)
    rig.accept(texts(1, body="[invalid] hello"))
    rig.dispatch()
    rig.accept(texts(1, prefix="old"))
    rig.clock.advance(600)
    rig.dispatch()

    outbox = sa.table(
        "relay_outbox", sa.column("message_pk"), sa.column("event"), sa.column("record", sa.JSON)
    )
    with rig.engine.connect() as connection:
        queued = {
            row.message_pk: (row.event, row.record["code"])
            for row in connection.execute(sa.select(outbox))
        }
    assert queued == {
        message(rig.engine, "m0").id: ("failed", "910"),
        message(rig.engine, "old0").id: ("failed", "916"),
    }


def test_a_plugin_that_builds_a_request_twice_sends_it_once(
    make_rig: RigFactory, caplog: pytest.LogCaptureFixture
) -> None:
    rig = make_rig()
    rig.accept(texts(2))
    rig.plugin.duplicate_first = True

    report = rig.dispatch()

    assert report.submitted == 2
    assert rig.vendor.received() == {"m0": 1, "m1": 1}
    assert "that an earlier request already carries; not sent (a plugin bug)" in caplog.text
