"""Which devices are traced now, answered in-process without a database query per message.

Each process (daphne, Celery, the MQTT broker) keeps a dict device id → active trace. A version
stamp in a shared cache (Redis, or a file cache in the embedded default) changes whenever a trace
starts, ends or is extended; each process reads the stamp at most once per CHECK_INTERVAL and
reloads the dict (one query) only when the stamp moved. Expiry itself is checked in Python on
every message from the trace's `expires_at`, and once more by the database write.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from dataclasses import dataclass

from django.db import close_old_connections, connection

from enos_portal.version_stamp import VersionStamp

from .conf import cache_alias

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 1.0  # seconds between two reads of the version stamp


@dataclass(frozen=True, slots=True)
class ActiveTrace:
    trace_id: int
    device_id: int
    expires_ts: float  # POSIX seconds
    # the device's deviceSecret and its product's productSecret, masked wherever they appear in a
    # log (tracing.payloads); a secret reset bumps the version stamp, so every process reloads them
    secrets: tuple[str, ...] = ()


active_version = VersionStamp("tracing:active-version", cache_alias)


def load_active() -> dict[int, ActiveTrace]:
    from .models import MessageTrace

    rows = MessageTrace.objects.active().filter(device__isnull=False).values_list(
        "pk", "device_id", "expires_at", "device__device_secret", "device__product__product_secret")
    return {device_id: ActiveTrace(pk, device_id, expires.timestamp(), (device_secret, product_secret))
            for pk, device_id, expires, device_secret, product_secret in rows}


class ActiveTraces:
    def __init__(self, check_interval: float = CHECK_INTERVAL) -> None:
        self.check_interval = check_interval
        self._by_device: dict[int, ActiveTrace] = {}
        self._loaded_version: str | None = None
        self._next_check = 0.0
        self._lock = threading.Lock()
        self._background: threading.Thread | None = None

    def get(self, device_id: int) -> ActiveTrace | None:
        if time.monotonic() >= self._next_check:
            self._refresh()
        return self._by_device.get(device_id)

    def snapshot(self) -> dict[int, ActiveTrace]:
        if time.monotonic() >= self._next_check:
            self._refresh()
        return dict(self._by_device)

    def invalidate(self) -> None:
        """Reload at the next lookup, whatever the stamp says (this process changed a trace)."""
        self._loaded_version = None
        self._next_check = 0.0

    def bump(self) -> None:
        """Tell every process the set changed: call after the change is committed."""
        active_version.publish()  # a cache outage is logged: it must not fail the start/stop itself
        self.invalidate()

    def _refresh(self) -> None:
        # one thread refreshes; the others keep answering from the current dict meanwhile
        if not self._lock.acquire(blocking=False):
            return
        try:
            if time.monotonic() < self._next_check:
                return
            self._next_check = time.monotonic() + self.check_interval
            version = active_version.read()
            if version == self._loaded_version:
                return
            if _in_event_loop():
                # the ORM may not run on an event loop's thread: reload beside it
                self._reload_in_thread(version)
                return
            self._by_device = load_active()
            self._loaded_version = version
        except Exception:  # noqa: BLE001 - tracing must never break a device's message
            logger.exception("Could not refresh the traced-device set; keeping the previous one")
        finally:
            self._lock.release()

    def _reload_in_thread(self, version: str) -> None:
        if self._background is not None and self._background.is_alive():
            return

        def reload() -> None:
            try:
                self._by_device = load_active()
                self._loaded_version = version
            except Exception:  # noqa: BLE001
                logger.exception("Could not refresh the traced-device set")
            finally:
                close_old_connections()
                connection.close()

        self._background = threading.Thread(target=reload, name="trace-set-reload", daemon=True)
        self._background.start()


def _in_event_loop() -> bool:
    """Whether the ORM must stay off this thread (as Django's own async-safety check decides)."""
    if os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE"):
        return False
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


active_traces = ActiveTraces()
