"""Writes retried through a database blip, until a deadline."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa

from smsgate.storage.retry import retry_until


def _down() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("COMMIT", {}, ConnectionError("server closed the connection"))


def test_a_write_that_fails_while_the_database_restarts_is_stored_once_it_is_back() -> None:
    tries: list[int] = []

    async def write() -> str:
        tries.append(1)
        if len(tries) < 3:
            raise _down()
        return "stored"

    result = asyncio.run(retry_until(time.monotonic() + 30, write, "a test write"))

    assert (result, len(tries)) == ("stored", 3)


def test_a_write_still_failing_at_the_deadline_lets_the_error_through() -> None:
    tries: list[int] = []

    async def write() -> None:
        tries.append(1)
        raise _down()

    with pytest.raises(sa.exc.OperationalError):
        asyncio.run(retry_until(time.monotonic() + 0.5, write, "a test write"))
    # Tried again after a pause, then given up rather than pausing past the deadline.
    assert len(tries) >= 2


def test_an_error_that_is_not_the_databases_is_not_retried() -> None:
    tries: list[int] = []

    async def write() -> None:
        tries.append(1)
        raise ValueError("a bug, not a blip")

    with pytest.raises(ValueError):
        asyncio.run(retry_until(time.monotonic() + 30, write, "a test write"))
    assert len(tries) == 1


def test_a_write_the_data_makes_fail_is_not_retried() -> None:
    tries: list[int] = []

    async def write() -> None:
        tries.append(1)
        raise sa.exc.IntegrityError("INSERT", {}, ValueError("duplicate key"))

    with pytest.raises(sa.exc.IntegrityError):
        asyncio.run(retry_until(time.monotonic() + 30, write, "a test write"))
    assert len(tries) == 1
