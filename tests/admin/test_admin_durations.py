"""Durations and moments as operators type them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from smsgate.admin.durations import format_duration, parse_duration, parse_moment

NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90d", timedelta(days=90)),
        ("12h", timedelta(hours=12)),
        (" 30m ", timedelta(minutes=30)),
        ("45s", timedelta(seconds=45)),
        ("2w", timedelta(weeks=2)),
        ("1.5H", timedelta(minutes=90)),
    ],
)
def test_a_duration_is_a_number_and_a_unit(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "90", "d", "90 days", "-1d", "1e3d", "99999999999d"])
def test_anything_else_is_refused_with_the_way_to_write_it(text):
    with pytest.raises(ValueError, match=r"duration|100 years"):
        parse_duration(text)


def test_a_duration_is_printed_in_its_largest_exact_unit():
    assert format_duration(timedelta(hours=34)) == "34h"
    assert format_duration(timedelta(days=14)) == "2w"
    assert format_duration(timedelta(seconds=90)) == "90s"


def test_a_moment_is_iso_8601_in_utc_or_a_duration_ago():
    assert parse_moment("2026-11-25T10:30", NOW) == datetime(2026, 11, 25, 10, 30, tzinfo=UTC)
    assert parse_moment("2026-11-25T10:30+05:30", NOW) == datetime(2026, 11, 25, 5, 0, tzinfo=UTC)
    assert parse_moment("2026-11-24", NOW) == datetime(2026, 11, 24, tzinfo=UTC)
    assert parse_moment("1h", NOW) == NOW - timedelta(hours=1)


@pytest.mark.parametrize("text", ["yesterday", "2026-13-01", "0001-01-01T00:00+01:00"])
def test_a_moment_that_is_not_one_is_refused(text):
    with pytest.raises(ValueError):
        parse_moment(text, NOW)
