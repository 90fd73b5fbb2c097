"""Periodic sweeps of tracing (scheduled by Celery beat: see CELERY_BEAT_SCHEDULE in settings)."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(name="tracing.close_expired_traces")
def close_expired_traces() -> int:
    """Close traces past their expiry and tell their open pages (recording already stopped by time)."""
    return services.close_expired_traces()


@shared_task(name="tracing.purge_ended_traces")
def purge_ended_traces() -> int:
    """Delete traces ended longer ago than TRACE_RETENTION_DAYS, with their logs."""
    return services.purge_ended_traces()
