"""Each server process tells the database, every few seconds, that its device sessions are alive.

A process that dies (killed, out of memory, its host gone) closes no connection cleanly: its
devices would stay Online forever. Its sessions stop being touched instead, and the Celery beat
sweep (`connectivity.tasks.end_stale_sessions`) ends them after three missed beats.
"""

from __future__ import annotations

from collections.abc import Iterable

from .conf import session_heartbeat_seconds
from .db import in_thread
from .handlers.session import kick_disabled_sessions, touch_sessions
from .periodic import Periodic


class SessionHeartbeat:
    def __init__(self) -> None:
        # session id → the devices it speaks for (its own, and a gateway's logged-in sub-devices)
        self.sessions: dict[str, set[int]] = {}
        # a failed beat is retried at the next; three missed ones end the sessions
        self._beats = Periodic(session_heartbeat_seconds, self.beat, "could not mark device sessions alive")

    @property
    def session_ids(self) -> set[str]:
        return set(self.sessions)

    def hold(self, session_id: str, device_id: int, sub_device_ids: Iterable[int] = ()) -> None:
        """Beat for this session; a call again (the gateway's sub-devices changed) replaces its devices."""
        self.sessions[session_id] = {device_id, *sub_device_ids}
        self._beats.ensure_running()

    def release(self, session_id: str) -> None:
        self.sessions.pop(session_id, None)

    async def beat(self) -> int:
        held = {session_id: set(device_ids) for session_id, device_ids in list(self.sessions.items())}
        if not held:
            return 0
        touched = await in_thread(touch_sessions)(list(held))
        await in_thread(kick_disabled_sessions)(held)  # a disabled device whose kick was lost goes now
        return touched


# one per process: every device connection of the process beats through it
heartbeat = SessionHeartbeat()
