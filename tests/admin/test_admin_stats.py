"""The overview's figures: windows by status, delivery rate, DLR latency, queues, circuits."""

from __future__ import annotations

from datetime import timedelta

import pytest
from message_builders import accept, dispatch, kill_relays, open_circuit, store_report, texts

from smsgate.admin import stats
from smsgate.storage.models import utcnow
from smsgate.types import EventKind


@pytest.fixture
def config(make_config, database_url):
    return make_config(database_url)


def test_windows_count_by_status_now_with_rate_and_latency(engine, config):
    now = utcnow()
    old = now - timedelta(hours=5)
    accept(engine, texts(2, prefix="old"), old)
    dispatch(engine, old, submitted={"old1.": "o1"}, failed={"old2.": "910"})
    store_report(engine, "o1", EventKind.DELIVERED, old + timedelta(seconds=30))
    accept(engine, texts(5), now - timedelta(minutes=10))
    dispatch(
        engine,
        now - timedelta(minutes=10),
        submitted={"m1.": "v1", "m2.": "v2", "m3.": "v3"},
        failed={"m4.": "905"},
    )
    store_report(
        engine, "v1", EventKind.DELIVERED, now - timedelta(minutes=10) + timedelta(seconds=2)
    )
    store_report(
        engine, "v2", EventKind.DELIVERED, now - timedelta(minutes=10) + timedelta(seconds=4)
    )
    store_report(
        engine,
        "v3",
        EventKind.FAILED,
        now - timedelta(minutes=10) + timedelta(seconds=10),
        code="901",
    )

    figures = stats.overview(engine, config, now)

    (nick,) = figures.nicknames
    hour, day = nick.last_hour, nick.last_day
    assert hour.total == 5 and day.total == 7
    assert hour.counts["delivered"] == 2 and hour.counts["failed"] == 2
    assert hour.counts["accepted"] == 1 and hour.counts["submitted"] == 0
    assert hour.delivery_rate == pytest.approx(0.5)
    assert day.delivery_rate == pytest.approx(3 / 6)
    # DLR latency: vendor acceptance to final report (the dispatcher's own failure has none).
    assert (hour.dlr_samples, hour.dlr_p50_seconds, hour.dlr_p95_seconds) == (3, 4.0, 10.0)
    assert day.dlr_samples == 4
    assert figures.all_last_day.total == 7
    assert nick.queue_depth == 1 and nick.sending == 0 and nick.unknown == 0
    assert nick.oldest_waiting_seconds == pytest.approx(600, abs=1)


def test_relays_unknown_and_circuit_show_per_nickname(engine, config):
    now = utcnow()
    accept(engine, texts(4), now)
    dispatch(engine, now, failed={"m1.": "910", "m2.": "910"}, unknown=["m3."])
    kill_relays(engine, now, "HTTP 400")
    accept(engine, texts(1, prefix="x"), now)
    dispatch(engine, now, failed={"x1.": "910"})
    open_circuit(engine, now, "5 failed batches")

    (nick,) = stats.overview(engine, config, now).nicknames

    assert (nick.dead_relays, nick.relay_backlog, nick.unknown, nick.queue_depth) == (2, 1, 1, 1)
    assert nick.circuit.state == "open" and nick.circuit.reason == "5 failed batches"
    assert nick.plugin == "pingbix" and nick.configured


def test_a_nickname_no_longer_configured_is_still_shown(engine, config):
    now = utcnow()
    accept(engine, texts(1), now, nickname="retired")

    names = [(n.nickname, n.configured) for n in stats.overview(engine, config, now).nicknames]

    assert names == [("pingbix-in", True), ("retired", False)]


def test_percentiles_are_nearest_rank():
    assert stats.percentile([], 0.5) is None
    assert stats.percentile([3.0], 0.95) == 3.0
    assert stats.percentile([float(n) for n in range(1, 101)], 0.95) == 95.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.0
