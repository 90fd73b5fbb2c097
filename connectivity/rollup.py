"""The OU view's roll-ups of the connection history, kept by beat tasks so that its pages read a few rows
whatever the fleet's size:

- `OnlineHour`: per OU, product and hour (UTC), how many devices had a session overlapping the hour. One
  COUNT(DISTINCT device) per hour, grouped by OU and product, a day of hours per scan of the records
  overlapping them (a range join no index serves in both databases): the task recounts the hours since the last
  roll-up (at least the previous and the current one, so the current hour follows the fleet); older hours
  never change, as a record is written at its session's start and only its end is set later.
- `FlappingDevice`: per OU, product and period, the devices that started the most sessions in it (one
  grouped count with a window rank per period).

Both are derived data, rebuilt from the history: not a write of anyone's (no actor, no audit event).
"""

from __future__ import annotations

import datetime as dt

from django.db import transaction
from django.db.models import Count, F, Max, Q, Window
from django.db.models.functions import RowNumber
from django.utils.timezone import now

from .models import ConnectionRecord, FlappingDevice, OnlineHour
from .timeline import PERIODS

HOUR = dt.timedelta(hours=1)
CATCH_UP_HOURS = 48  # a roll-up after a pause recounts at most this many hours (older ones: the command)
HOURS_A_QUERY = 24  # hours counted in one scan of the history (one COUNT(DISTINCT) each)
FLAPPING_KEPT = 50  # devices kept per OU, product and period; the pages show fewer


def hour_of(moment: dt.datetime) -> dt.datetime:
    """The start of the UTC hour holding `moment`."""
    return moment.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)


def online_counts(hours: list[dt.datetime]) -> list[tuple[int, int, dt.datetime, int]]:
    """(OU, product, hour, devices) with a session overlapping [hour, hour + 1 h), open ones included, for
    consecutive `hours`: one scan of the records overlapping them, one COUNT(DISTINCT device) per hour."""
    first, last = hours[0], hours[-1]
    overlapping = ConnectionRecord.objects.filter(
        Q(ended_at__isnull=True) | Q(ended_at__gt=first), started_at__lt=last + HOUR)
    per_hour = {f"h{i}": Count("device_id", distinct=True, filter=Q(
        Q(ended_at__isnull=True) | Q(ended_at__gt=hour), started_at__lt=hour + HOUR)) for i, hour in enumerate(hours)}
    rows = overlapping.values("ou_id", "device__product_id").order_by().annotate(**per_hour)
    return [(row["ou_id"], row["device__product_id"], hour, row[f"h{i}"])
            for row in rows for i, hour in enumerate(hours) if row[f"h{i}"]]


def roll_up_hours(first: dt.datetime, last: dt.datetime) -> int:
    """Recount every hour from `first`'s to `last`'s (both included), a day's hours a query; returns how many."""
    hours = []
    hour, end = hour_of(first), hour_of(last)
    while hour <= end:
        hours.append(hour)
        hour += HOUR
    for block in (hours[i:i + HOURS_A_QUERY] for i in range(0, len(hours), HOURS_A_QUERY)):
        rows = [OnlineHour(ou_id=ou, product_id=product, hour=hour, devices=devices)
                for ou, product, hour, devices in online_counts(block)]
        with transaction.atomic():
            OnlineHour.objects.filter(hour__gte=block[0], hour__lte=block[-1]).delete()
            OnlineHour.objects.bulk_create(rows, batch_size=2_000)
    return len(hours)


def roll_up_recent(at: dt.datetime | None = None) -> int:
    """The beat's round: the hours since the last one counted (at least the previous and the current)."""
    current = hour_of(at or now())
    last = OnlineHour.objects.aggregate(last=Max("hour"))["last"]
    first = current - HOUR if last is None else min(hour_of(last), current - HOUR)
    return roll_up_hours(max(first, current - CATCH_UP_HOURS * HOUR), current)


def rank_flapping(at: dt.datetime | None = None) -> int:
    """Recount every period's most flapping devices, per OU and product; returns the rows kept."""
    at = at or now()
    kept = 0
    for period, (length, _label) in PERIODS.items():
        ranked = (ConnectionRecord.objects.filter(started_at__gte=at - length, started_at__lt=at,
                                                  device__ou_id=F("ou_id"))
                  .values("ou_id", "device__product_id", "device_id").order_by()
                  .annotate(sessions=Count("id"))
                  .annotate(rank=Window(RowNumber(), partition_by=[F("ou_id"), F("device__product_id")],
                                        order_by=[F("sessions").desc(), F("device_id").asc()]))
                  .filter(rank__lte=FLAPPING_KEPT)
                  .values_list("ou_id", "device__product_id", "device_id", "sessions"))
        rows = [FlappingDevice(ou_id=ou, product_id=product, device_id=device, period=period, sessions=sessions,
                               counted_at=at) for ou, product, device, sessions in ranked]
        with transaction.atomic():
            FlappingDevice.objects.filter(period=period).delete()
            FlappingDevice.objects.bulk_create(rows, batch_size=2_000)
        kept += len(rows)
    return kept


def purge_old_hours(older_than: dt.timedelta) -> int:
    return OnlineHour.objects.filter(hour__lt=now() - older_than).delete()[0]
