"""The one hook every device message passes through (called by connectivity).

`record_message` must cost next to nothing for untraced devices: whether a device is traced is
answered from an in-process set refreshed from a cache/Redis version stamp, never a DB query per
message. (Interface fixed here; the tracing issue implements storage and live push.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

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
    return None
