"""The tables' column types: times read back as they were written, in UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import sqlite

from smsgate.storage.models import UTCDateTime

ZONES = st.builds(
    timezone, st.integers(min_value=-23 * 60, max_value=23 * 60).map(lambda m: timedelta(minutes=m))
)
MOMENTS = st.datetimes(
    min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=ZONES | st.just(UTC)
)


@given(MOMENTS)
def test_sqlite_stores_a_time_as_sqlalchemy_itself_writes_it(moment):
    # Databases written before UTCDateTime formatted times itself must compare and sort the
    # same: the text has to be SQLAlchemy's, byte for byte.
    dialect = sqlite.dialect()
    ours = UTCDateTime().bind_processor(dialect)
    sqlalchemys = sa.DateTime().dialect_impl(dialect).bind_processor(dialect)
    assert ours is not None and sqlalchemys is not None

    assert ours(moment) == sqlalchemys(moment.astimezone(UTC).replace(tzinfo=None))


def test_a_time_without_a_zone_is_refused_on_every_database(database_url):
    engine = sa.create_engine(database_url)
    table = sa.Table("times", sa.MetaData(), sa.Column("at", UTCDateTime))
    try:
        with engine.begin() as connection:
            table.create(connection)
            with pytest.raises(sa.exc.StatementError, match="naive datetime"):
                connection.execute(table.insert(), {"at": datetime(2026, 11, 25, 9, 30)})
    finally:
        with engine.begin() as connection:
            table.drop(connection, checkfirst=True)
        engine.dispose()


def test_a_time_reads_back_as_the_same_moment_in_utc(database_url):
    engine = sa.create_engine(database_url)
    table = sa.Table("times", sa.MetaData(), sa.Column("at", UTCDateTime))
    written = datetime(
        2026, 11, 25, 15, 0, 0, 123456, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    try:
        with engine.begin() as connection:
            table.create(connection)
            connection.execute(table.insert(), {"at": written})
            read = connection.execute(sa.select(table.c.at)).scalar_one()
    finally:
        with engine.begin() as connection:
            table.drop(connection, checkfirst=True)
        engine.dispose()

    assert read == written and read.tzinfo is UTC
    assert read.isoformat() == "2026-11-25T09:30:00.123456+00:00"
