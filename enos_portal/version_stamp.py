"""A version stamp that tells every process (daphne, Celery, the MQTT broker) its in-memory copy is stale.

A process that keeps a copy of data that changes rarely (the traced devices, the alert rules) reads the
stamp now and then and reloads its copy only when the stamp moved; whoever changes the data publishes a new
stamp once the change is committed. The stamp lives in a cache every process shares (Redis, or a file cache
in the embedded default), one key per database, so test runs (and several portals) sharing one cache do not
disturb each other.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable

from django.core.cache import caches
from django.db import connection, transaction

logger = logging.getLogger(__name__)


class VersionStamp:
    def __init__(self, name: str, cache_alias: Callable[[], str]) -> None:
        self.name = name
        self._cache_alias = cache_alias  # read at use, so settings (and tests) may change it

    def key(self) -> str:
        return f"{self.name}:{connection.settings_dict.get('NAME')}"

    def read(self) -> str:
        """The current stamp, a new one if the cache holds none. Raises when the cache cannot be reached."""
        cache = caches[self._cache_alias()]
        key = self.key()
        version = cache.get(key)
        if version is None:
            cache.add(key, uuid.uuid4().hex, timeout=None)  # add: two processes starting at once agree
            version = cache.get(key) or "unknown"
        return version

    def publish(self) -> None:
        """A new stamp, now: call it once the change is committed.

        A cache outage is logged, never raised: the change itself stands, and must not fail for it."""
        try:
            caches[self._cache_alias()].set(self.key(), uuid.uuid4().hex, timeout=None)
        except Exception:  # noqa: BLE001
            logger.exception("Could not publish the version stamp %s; other processes keep their copy for now",
                             self.name)

    def publish_on_commit(self) -> None:
        """A new stamp once the current transaction commits (none if it rolls back)."""
        transaction.on_commit(self.publish)
