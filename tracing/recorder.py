"""The one hook every device message passes through (called by connectivity).

`record_message` must cost next to nothing for untraced devices: whether a device is traced is
answered from an in-process set refreshed from a cache/Redis version stamp (tracing.active), never
a DB query per message. A traced device's log is handed to the process's trace writer (a thread
writing batches, tracing.writer), so neither a sync handler nor an event loop waits on the database;
inside the caller's open transaction it is written there and then instead. A failure to trace
never reaches the device's own handling: it is logged and the message goes on.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from django.db import connection

from .active import active_traces

logger = logging.getLogger(__name__)

Direction = Literal["up", "down"]
Outcome = Literal["ok", "error", "timeout"]


@dataclass(frozen=True)
class TracedMessage:
    device_id: int
    direction: Direction
    method: str
    outcome: Outcome
    code: int | None = None
    message: str = ""
    payload: Any = None


def record_message(msg: TracedMessage) -> None:
    """Record `msg` if its device is being traced now; otherwise return at once."""
    entry = active_traces.get(msg.device_id)
    if entry is None:
        return None
    stamp = time.time()
    if stamp >= entry.expires_ts:
        return None  # past the end in this process's view; the write would refuse it anyway
    try:
        from .services import build_log
        from .writer import write_with_retry, writer

        pending = build_log(entry, msg, datetime.fromtimestamp(stamp, tz=UTC))
        if connection.in_atomic_block:
            # the caller's transaction is open: the log commits (or rolls back) with its work
            write_with_retry([pending])
        else:
            writer.submit(pending)
    except Exception:  # noqa: BLE001 - tracing observes; it must never fail the device's message
        logger.exception("Trace log of device %s (%s) lost", msg.device_id, msg.method)
    return None


def forget_traced_devices() -> None:
    """Reload the traced set at the next message (tests, and a process that just changed a trace)."""
    active_traces.invalidate()
