"""Each server process tells the database, every few seconds, that its device sessions are alive.

A process that dies (killed, out of memory, its host gone) closes no connection cleanly: its
devices would stay Online forever. Its sessions stop being touched instead, and the Celery beat
sweep (`connectivity.tasks.end_stale_sessions`) ends them after three missed beats.
"""

from __future__ import annotations

import asyncio
import logging

from . import services
from .conf import session_heartbeat_seconds
from .db import in_thread

logger = logging.getLogger(__name__)


class SessionHeartbeat:
    def __init__(self) -> None:
        self.session_ids: set[str] = set()
        self._task: asyncio.Task | None = None

    def hold(self, session_id: str) -> None:
        self.session_ids.add(session_id)
        self._ensure_running()

    def release(self, session_id: str) -> None:
        self.session_ids.discard(session_id)

    async def beat(self) -> int:
        held = list(self.session_ids)
        return await in_thread(services.touch_sessions)(held) if held else 0

    def _ensure_running(self) -> None:
        task, loop = self._task, asyncio.get_running_loop()
        if task is not None and not task.done() and task.get_loop() is loop:
            return
        self._task = loop.create_task(self._beat_forever())

    async def _beat_forever(self) -> None:
        while True:
            await asyncio.sleep(session_heartbeat_seconds())
            try:
                await self.beat()
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - the next beat retries; three missed ones end the sessions
                logger.exception("could not mark %s device sessions alive", len(self.session_ids))


# one per process: every device connection of the process beats through it
heartbeat = SessionHeartbeat()
