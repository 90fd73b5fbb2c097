"""Calling the (sync) connectivity services from async transports."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from channels.db import database_sync_to_async


def in_thread(func: Callable[..., Any]) -> Callable[..., Any]:
    """`func` on a pool thread with its own database connection.

    Not channels' default single thread for all ORM calls: when thousands of devices log in at
    once, their queries would queue behind one another on that one thread.
    """
    return database_sync_to_async(func, thread_sensitive=False)
