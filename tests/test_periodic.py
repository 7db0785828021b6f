"""smsgate.periodic: loops that poll, are woken by new work, and stop within their grace.

Poll intervals here are a minute long, so that anything that happens within a test happened
because the loop was woken or stopped, not because a poll came round.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from sqlalchemy.exc import OperationalError

from smsgate.periodic import Loops

MINUTE = 60.0
logger = logging.getLogger("test_periodic")


async def eventually(check, *, deadline: float = 10.0) -> None:
    async def wait() -> None:
        while not check():
            await asyncio.sleep(0.005)

    await asyncio.wait_for(wait(), timeout=deadline)


def test_an_idle_loop_sleeps_until_notified_and_a_busy_one_goes_again_at_once():
    async def scenario() -> list[str]:
        loops = Loops(logger)
        rounds: list[str] = []
        backlog = ["full", "full"]

        async def round_() -> float | None:
            if backlog:
                rounds.append(backlog.pop())
                return None
            rounds.append("idle")
            return MINUTE

        loops.start()
        loops.spawn(loops.poll(round_), name="poller")
        await eventually(lambda: rounds == ["full", "full", "idle"])
        loops.notify()
        await eventually(lambda: rounds == ["full", "full", "idle", "idle"])
        await loops.stop(grace=MINUTE)
        return rounds

    assert asyncio.run(scenario()) == ["full", "full", "idle", "idle"]


def test_work_notified_while_a_round_runs_is_not_left_for_the_next_poll():
    async def scenario() -> int:
        loops = Loops(logger)
        rounds = 0

        async def round_() -> float | None:
            nonlocal rounds
            rounds += 1
            if rounds == 1:
                loops.notify()  # committed while this round was looking elsewhere
            return MINUTE

        loops.start()
        loops.spawn(loops.poll(round_), name="poller")
        await eventually(lambda: rounds == 2)
        await loops.stop(grace=MINUTE)
        return rounds

    assert asyncio.run(scenario()) == 2


def test_periodic_work_survives_its_failures_and_logs_them(caplog):
    async def scenario() -> int:
        loops = Loops(logger)
        calls = 0

        async def work() -> None:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise OperationalError("SELECT 1", {}, Exception("database is locked"))
            raise RuntimeError("a bug")

        loops.start()
        loops.spawn(loops.every(0.01, work, "sweeping"), name="sweeper")
        await eventually(lambda: calls >= 3)
        await loops.stop(grace=MINUTE)
        return calls

    with caplog.at_level(logging.WARNING, logger="test_periodic"):
        assert asyncio.run(scenario()) >= 3

    assert "sweeping: database error: (builtins.Exception) database is locked" in caplog.text
    assert "sweeping failed" in caplog.text
    assert "RuntimeError: a bug" in caplog.text


def test_a_stop_ends_the_wait_between_periodic_calls_and_waiting_first_skips_the_first():
    async def scenario() -> tuple[int, int]:
        loops = Loops(logger)
        calls = {"now": 0, "later": 0}

        async def now() -> None:
            calls["now"] += 1

        async def later() -> None:
            calls["later"] += 1

        loops.start()
        loops.spawn(loops.every(MINUTE, now, "now"), name="now")
        loops.spawn(loops.every(MINUTE, later, "later", wait_first=True), name="later")
        await eventually(lambda: calls["now"] == 1)
        await asyncio.wait_for(loops.stop(grace=MINUTE), timeout=10)
        return calls["now"], calls["later"]

    assert asyncio.run(scenario()) == (1, 0)


def test_a_loop_still_busy_after_the_grace_is_cancelled_and_a_finishing_one_is_not():
    async def scenario() -> tuple[list[str], bool]:
        loops = Loops(logger)
        ended: list[str] = []

        async def stubborn() -> None:
            try:
                await asyncio.sleep(MINUTE)
            except asyncio.CancelledError:
                ended.append("stubborn cancelled")
                raise

        async def polite() -> None:
            while not loops.stopping:
                await asyncio.sleep(0.001)
            ended.append("polite finished")

        loops.start()
        loops.spawn(stubborn(), name="stubborn")
        loops.spawn(polite(), name="polite")
        await asyncio.sleep(0)
        await loops.stop(grace=0.2)
        return sorted(ended), loops.stopping

    assert asyncio.run(scenario()) == (["polite finished", "stubborn cancelled"], True)


def test_loops_run_again_after_a_stop_and_a_start():
    async def scenario() -> int:
        loops = Loops(logger)
        calls = 0

        async def work() -> None:
            nonlocal calls
            calls += 1

        for _ in range(2):
            loops.start()
            assert not loops.stopping
            loops.spawn(loops.every(MINUTE, work, "work"), name="work")
            await eventually(lambda expected=calls + 1: calls == expected)
            await loops.stop(grace=MINUTE)
        return calls

    assert asyncio.run(scenario()) == 2


@pytest.mark.parametrize("grace", [0.0, MINUTE])
def test_stopping_without_loops_is_harmless(grace):
    async def scenario() -> bool:
        loops = Loops(logger)
        loops.start()
        await loops.stop(grace)
        return loops.stopping

    assert asyncio.run(scenario())
