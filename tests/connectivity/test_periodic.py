"""The periodic work of a server process (heartbeat, latest-value flush, broker sweep) outlives a failed round."""

from __future__ import annotations

import asyncio
import logging

import pytest

from connectivity.periodic import Periodic, every


def test_a_failed_round_is_logged_and_the_next_round_runs(caplog):
    rounds: list[int] = []

    async def work() -> None:
        rounds.append(len(rounds) + 1)
        if len(rounds) == 1:
            raise RuntimeError("the database went away")

    async def scenario() -> None:
        task = asyncio.ensure_future(every(lambda: 0.01, work, "could not do the work"))
        while len(rounds) < 3:
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    with caplog.at_level(logging.ERROR, logger="connectivity.periodic"):
        asyncio.run(asyncio.wait_for(scenario(), 5))
    assert rounds[:3] == [1, 2, 3]
    assert [record.getMessage() for record in caplog.records] == ["could not do the work"]
    assert "the database went away" in caplog.text


def test_periodic_work_runs_once_per_event_loop():
    async def work() -> None:
        pass

    periodic = Periodic(lambda: 60, work, "could not do the work")

    async def started_twice() -> asyncio.Task:
        periodic.ensure_running()
        first = periodic._task
        periodic.ensure_running()
        assert periodic._task is first and first is not None
        first.cancel()
        return first

    first_loop_task = asyncio.run(started_twice())
    assert asyncio.run(started_twice()) is not first_loop_task  # a new loop (a new test, a new server) starts anew
