"""Polling until something another process or thread does has happened."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(predicate: Callable[[], object], timeout: float = 10.0) -> None:
    """Return once `predicate()` is true; fail the test if it is still false after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"condition not met in {timeout} s"
        time.sleep(0.05)
