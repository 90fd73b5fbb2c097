"""Each server process tells the database, every few seconds, that its device sessions are alive.

A process that dies (killed, out of memory, its host gone) closes no connection cleanly: its
devices would stay Online forever. Its sessions stop being touched instead, and the Celery beat
sweep (`connectivity.tasks.end_stale_sessions`) ends them after three missed beats.
"""

from __future__ import annotations

from .conf import session_heartbeat_seconds
from .db import in_thread
from .handlers.session import kick_disabled_sessions, touch_sessions
from .periodic import Periodic


class SessionHeartbeat:
    def __init__(self) -> None:
        self.session_ids: set[str] = set()
        # a failed beat is retried at the next; three missed ones end the sessions
        self._beats = Periodic(session_heartbeat_seconds, self.beat, "could not mark device sessions alive")

    def hold(self, session_id: str) -> None:
        self.session_ids.add(session_id)
        self._beats.ensure_running()

    def release(self, session_id: str) -> None:
        self.session_ids.discard(session_id)

    async def beat(self) -> int:
        held = list(self.session_ids)
        if not held:
            return 0
        touched = await in_thread(touch_sessions)(held)
        await in_thread(kick_disabled_sessions)(held)  # a disabled device whose kick was lost goes now
        return touched


# one per process: every device connection of the process beats through it
heartbeat = SessionHeartbeat()
