"""Latest values, buffered in each connection process and written in one upsert per interval.

A device reporting once a second must not cost a database round trip per message: its reply
goes out as soon as the values are checked, and the newest value per (device, point) is
written within `CONNECTIVITY_LATEST_FLUSH_SECONDS`. A crash loses at most that interval of
"latest" values; traces of the messages themselves are recorded as they arrive.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from .conf import latest_flush_seconds
from .db import in_thread
from .periodic import Periodic


@dataclass(frozen=True)
class LatestRow:
    device_id: int
    kind: str
    identifier: str
    value: Any
    time: dt.datetime


class LatestValueBuffer:
    def __init__(self) -> None:
        self._pending: dict[tuple[int, str, str], LatestRow] = {}
        self._lock = threading.Lock()
        # a failed write is retried with newer values at the next interval
        self._flusher = Periodic(latest_flush_seconds, self.flush, "could not store latest values")

    def add(self, device_id: int, kind: str, values: dict[str, Any], time: dt.datetime) -> None:
        with self._lock:
            for identifier, value in values.items():
                key = (device_id, kind, identifier)
                held = self._pending.get(key)
                if held is None or held.time <= time:
                    self._pending[key] = LatestRow(device_id, kind, identifier, value, time)

    def take(self) -> list[LatestRow]:
        with self._lock:
            rows, self._pending = list(self._pending.values()), {}
        return rows

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        from .services import store_latest_values

        rows = self.take()
        if rows:
            await in_thread(store_latest_values)(rows)
        return len(rows)

    def ensure_flusher(self) -> None:
        """Start the periodic writer in the running event loop (once per loop)."""
        self._flusher.ensure_running()


# one per process: every connection of the process shares it
buffer = LatestValueBuffer()
