"""Live push of trace events to open pages, batched per device group.

Each `async_to_sync(group_send)` from sync code costs ~4 ms and channels-redis drops silently past
its capacity, so events are not sent one call per log: `publish` appends to an in-process buffer
that a drain task on an event loop empties, sending a group's events at once when the group has
had no send for FLUSH_INTERVAL, else together at the end of that interval: at most one
`group_send` per device per ~50 ms however fast its logs come, and no wait for a quiet device.
Groups are sent in parallel. Pages detect what the layer drops by the logs' sequence numbers and
refill from the database.

In a server process (daphne, uvicorn) the drain runs on the server's own event loop, which
websocket consumers register: a drain on a second loop in another thread would wait for the GIL
at every Redis round trip while the server loop is busy (the convoy effect: p50 240 ms, p99 2.2 s
at 2,000 devices a second, against a few ms on the server loop). A process without one (Celery,
a management command) drains on a loop of its own in a daemon thread for a cross-process layer
such as Redis. The in-memory layer only reaches consumers on their own loop: with no registered
loop, nobody in this process listens, and events are dropped.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import logging
import os
import threading
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer

logger = logging.getLogger(__name__)

FLUSH_INTERVAL = 0.05  # seconds
MAX_LOGS_PER_EVENT = 200  # keeps one message well below channels-redis's limits
PARALLEL_GROUPS = 32  # group_sends in flight at once


def device_group(device_id: int) -> str:
    return f"trace.device.{device_id}"


def user_group(user_id: int) -> str:
    return f"trace.user.{user_id}"


class Pusher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending: dict[str, list[dict[str, Any]]] = {}
        self._drain_loop: asyncio.AbstractEventLoop | None = None  # set while a drain is scheduled
        self._consumer_loop: asyncio.AbstractEventLoop | None = None
        self._own_loop: asyncio.AbstractEventLoop | None = None
        self._own_pid = 0
        self._tasks: set[asyncio.Task] = set()
        self._wake: asyncio.Event | None = None  # set when events arrive while the drain waits
        self._last_sent: dict[str, float] = {}
        self._idle = threading.Event()
        self._idle.set()
        self.sent = 0  # group_send calls made, for benchmarks

    # --- producers (any thread) -------------------------------------------------------------------
    def publish(self, group: str, event: dict[str, Any]) -> None:
        with self._lock:
            self._append(group, event)
            if self._drain_loop is not None and self._drain_loop.is_running():
                wake, loop = self._wake, self._drain_loop
                if wake is not None:  # the drain waits for a group's interval: this group may be due now
                    loop.call_soon_threadsafe(wake.set)
                return
            loop = self._target_loop()
            if loop is None:
                self._pending.clear()
                return
            self._drain_loop = loop
            self._idle.clear()
        try:
            loop.call_soon_threadsafe(self._start_drain, loop)
        except RuntimeError:  # the loop closed between the check and the call
            self._reset()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Block until everything published so far has been handed to the channel layer."""
        return self._idle.wait(timeout)

    def register_consumer_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        self._consumer_loop = loop

    def _append(self, group: str, event: dict[str, Any]) -> None:
        events = self._pending.setdefault(group, [])
        last = events[-1] if events else None
        if (event["type"] == "trace.logs" and last is not None and last["type"] == "trace.logs"
                and last["trace"] == event["trace"] and len(last["logs"]) < MAX_LOGS_PER_EVENT):
            last["logs"].extend(event["logs"])
        elif event["type"] == "trace.logs":
            events.append({**event, "logs": list(event["logs"])})
        else:
            events.append(event)

    def _target_loop(self) -> asyncio.AbstractEventLoop | None:
        layer = get_channel_layer()
        if layer is None:
            return None
        loop = self._consumer_loop
        if loop is not None and loop.is_running() and not loop.is_closed():
            return loop
        if isinstance(layer, InMemoryChannelLayer):
            return None
        return self._ensure_own_loop()

    def _ensure_own_loop(self) -> asyncio.AbstractEventLoop:
        # after a fork (Celery prefork) the thread is gone although the loop object was copied
        if self._own_loop is None or self._own_pid != os.getpid() or self._own_loop.is_closed():
            loop = asyncio.new_event_loop()
            started = threading.Event()

            def run() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(started.set)
                loop.run_forever()

            threading.Thread(target=run, name="trace-push", daemon=True).start()
            started.wait(5)
            self._own_loop, self._own_pid = loop, os.getpid()
        return self._own_loop

    def _reset(self) -> None:
        with self._lock:
            self._pending.clear()
            self._drain_loop = None
            self._idle.set()

    # --- the drain (on its loop) ------------------------------------------------------------------
    def _start_drain(self, loop: asyncio.AbstractEventLoop) -> None:
        task = loop.create_task(self._drain(loop))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _drain(self, loop: asyncio.AbstractEventLoop) -> None:
        layer = get_channel_layer()
        limit = asyncio.Semaphore(PARALLEL_GROUPS)
        try:
            while True:
                now = loop.time()
                with self._lock:
                    if not self._pending:
                        self._drain_loop = self._wake = None
                        self._idle.set()
                        return
                    due = {group: events for group, events in self._pending.items()
                           if now - self._last_sent.get(group, -FLUSH_INTERVAL) >= FLUSH_INTERVAL}
                    for group in due:
                        del self._pending[group]
                    next_due = min((self._last_sent[group] + FLUSH_INTERVAL for group in self._pending), default=now)
                    self._wake = asyncio.Event()
                if due:
                    for group in due:
                        self._last_sent[group] = now
                    # groups in parallel (each send is a few Redis round trips); within a group, in order
                    await asyncio.gather(*(self._send(layer, group, events, limit) for group, events in due.items()))
                    if len(self._last_sent) > 10_000:
                        self._last_sent = {g: t for g, t in self._last_sent.items() if now - t < FLUSH_INTERVAL}
                    continue
                # every pending group was sent less than FLUSH_INTERVAL ago: wait for the first to be due,
                # or for an event of another group
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), max(0.0, next_due - loop.time()))
        except BaseException:
            self._reset()
            raise

    async def _send(self, layer: Any, group: str, events: list[dict[str, Any]], limit: asyncio.Semaphore) -> None:
        async with limit:
            for event in events:
                try:
                    await layer.group_send(group, event)
                    self.sent += 1
                except Exception:  # noqa: BLE001 - pages notice the gap by seq and refill
                    logger.warning("Trace push to %s failed", group, exc_info=True)


pusher = Pusher()
atexit.register(pusher.wait_idle, 2.0)  # registered before the writer's: runs after it has written


def publish(group: str, event: dict[str, Any]) -> None:
    pusher.publish(group, event)
