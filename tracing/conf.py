"""Tracing's settings, with their defaults: read at use, so tests can override them."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings

MIN_DURATION = timedelta(minutes=1)
MAX_DURATION = timedelta(days=3)


def max_logs() -> int:
    """Logs kept per trace; past it the oldest are dropped and a marker says how many."""
    return max(2, int(getattr(settings, "TRACE_MAX_LOGS", 100_000)))


def retention() -> timedelta:
    """How long the logs of an ended trace stay browsable."""
    return timedelta(days=int(getattr(settings, "TRACE_RETENTION_DAYS", 7)))


def payload_limit() -> int:
    """Bytes of a payload's JSON kept in a log; longer ones are stored truncated."""
    return int(getattr(settings, "TRACE_PAYLOAD_LIMIT", 4096))


def access_recheck_seconds() -> float:
    """How often an open trace page re-checks that its user may still see the device."""
    return float(getattr(settings, "TRACE_ACCESS_RECHECK_SECONDS", 30))


def sync_seconds() -> float:
    """How often an open trace page is told the trace's last seq: a lost push that no later log
    follows (no gap to see) is filled from the database within this long."""
    return float(getattr(settings, "TRACE_SYNC_SECONDS", 5))


def cache_alias() -> str:
    """The cache every process (daphne, Celery, the MQTT broker) reads the traced-set version from."""
    alias = getattr(settings, "TRACE_CACHE", "tracing")
    return alias if alias in settings.CACHES else "default"
