"""Celery tasks of connectivity."""

from __future__ import annotations

import datetime as dt

from celery import shared_task
from django.conf import settings

from . import history, rollup, services
from .conf import session_heartbeat_seconds

MISSED_BEATS = 3


@shared_task
def end_stale_sessions() -> int:
    """Beat: end the sessions of server processes that stopped beating (their devices go offline), and
    forget gateway notices older than a day (sent, or never claimed by a connection)."""
    services.forget_old_notices(dt.timedelta(days=1))
    return services.end_stale_sessions(dt.timedelta(seconds=MISSED_BEATS * session_heartbeat_seconds()))


@shared_task
def purge_connection_history() -> int:
    """Beat: delete connection records that ended more than CONNECTION_HISTORY_DAYS ago, in batches."""
    kept = dt.timedelta(days=settings.CONNECTION_HISTORY_DAYS)
    rollup.purge_old_hours(kept)
    return history.purge_old_records(kept)


@shared_task
def roll_up_online_devices() -> int:
    """Beat (every few minutes): recount the devices online in the hours since the last round (the OU
    view's chart follows the fleet within one round)."""
    return rollup.roll_up_recent()


@shared_task
def rank_flapping_devices() -> int:
    """Beat (hourly): recount each period's most flapping devices per OU and product."""
    return rollup.rank_flapping()
