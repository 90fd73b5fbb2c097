"""Work a server process repeats every few seconds on its event loop, whatever one round's failure."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

logger = logging.getLogger(__name__)


async def every(interval: Callable[[], float], work: Callable[[], Awaitable[object]], failure: str) -> None:
    """`work()` every `interval()` seconds until cancelled; a failed round is logged as `failure` and the next
    one tries again."""
    while True:
        await asyncio.sleep(interval())
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception:  # noqa: BLE001 - the next round retries
            logger.exception(failure)


class Periodic:
    """`every(...)` for a per-process object: started on first use, once per running event loop."""

    def __init__(self, interval: Callable[[], float], work: Callable[[], Awaitable[object]], failure: str) -> None:
        self.interval, self.work, self.failure = interval, work, failure
        self._task: asyncio.Task | None = None

    def ensure_running(self) -> None:
        task, loop = self._task, asyncio.get_running_loop()
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._task = loop.create_task(every(self.interval, self.work, self.failure))
