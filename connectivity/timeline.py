"""Reads of the connection history shared by the console and the API: a device's online intervals over
a period, its availability (% of the period online), and the bands of a timeline drawn from them.

A device has at most one live session, so its records do not overlap: the records of a period are
those that started in it plus the one running at its start (the latest that started before). The
database does the counting (availability is one aggregate; the timeline's gaps come from a window
function), so a page costs the same few indexed reads however long the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import DateTimeField, DurationField, ExpressionWrapper, F, Q, QuerySet, Sum, Value, Window
from django.db.models.functions import Coalesce, Greatest, Lag, Lead, Least
from django.utils.timezone import now
from django.utils.translation import gettext_lazy as _

from assets.models import Device

from .models import ConnectionRecord

PERIODS: dict[str, tuple[dt.timedelta, str]] = {
    "day": (dt.timedelta(days=1), _("Last day")),
    "week": (dt.timedelta(days=7), _("Last week")),
    "month": (dt.timedelta(days=30), _("Last month")),
}
DEFAULT_PERIOD = "day"
TIMELINE_WIDTH = 1000  # SVG user units across the period; nearer intervals than one unit are drawn as one band

Interval = tuple[dt.datetime, dt.datetime]


def device_records(device: Device) -> QuerySet[ConnectionRecord]:
    """The device's records kept by its present OU (an earlier OU's stay with that OU)."""
    return ConnectionRecord.objects.filter(device=device, ou_id=device.ou_id)


def running_at(device: Device, start: dt.datetime) -> list[tuple[dt.datetime, dt.datetime | None]]:
    """The record running at `start` (the latest that started before it), as [(started, ended or None)]."""
    return list(device_records(device).filter(started_at__lt=start).order_by("-started_at", "-id")
                .values_list("started_at", "ended_at")[:1])


def intervals_between(device: Device, start: dt.datetime, end: dt.datetime, at: dt.datetime, *,
                      min_gap: dt.timedelta = dt.timedelta(0),
                      running: list[tuple[dt.datetime, dt.datetime | None]] | None = None) -> list[Interval]:
    """The device's online intervals clipped to [start, end), oldest first; offline gaps no longer than
    `min_gap` are bridged.

    The database finds the gaps (LEAD over the period's records, by the (device, started_at) index) and
    returns only the records that border one: a month of a device reconnecting every few minutes is a
    handful of rows, not thousands.
    """
    order = [F("started_at").asc(), F("id").asc()]
    edges = (device_records(device).filter(started_at__gte=start, started_at__lt=end)
             .annotate(next_start=Window(Lead("started_at"), order_by=order),
                       prev_start=Window(Lag("started_at"), order_by=order))
             .filter(Q(prev_start__isnull=True) | Q(next_start__isnull=True) | Q(ended_at__isnull=True)
                     | Q(next_start__gt=F("ended_at") + min_gap))
             .order_by("started_at", "id").values_list("started_at", "ended_at", "next_start", "prev_start"))
    rows = running_at(device, start) if running is None else list(running)
    since: dt.datetime | None = None
    for started, ended, next_start, prev_start in edges:
        if prev_start is None:
            since = started
        if since is None:
            continue
        if next_start is None:
            rows.append((since, ended))
        else:
            rows.append((since, min(ended or next_start, next_start)))
            since = next_start
    return merge(rows, start, end, at)


def shares(device: Device, at: dt.datetime, running: list[tuple[dt.datetime, dt.datetime | None]]
           ) -> dict[str, float | None]:
    """Every period's availability: one aggregate over the longest period's records (a device's records
    do not overlap, so the online time is the sum of their clipped lengths) and the running record."""
    longest = at - max(length for length, _label in PERIODS.values())
    records = device_records(device).filter(started_at__gte=longest, started_at__lt=at)
    stop = Least(Coalesce("ended_at", Value(at)), Value(at), output_field=DateTimeField())
    sums = {}
    for name, (length, _label) in PERIODS.items():
        start = counted_from(device, at - length)
        begin = Greatest("started_at", Value(start), output_field=DateTimeField())
        sums[name] = Sum(ExpressionWrapper(stop - begin, output_field=DurationField()),
                         filter=Q(ended_at__isnull=True) | Q(ended_at__gt=start), default=dt.timedelta(0))
    online = records.aggregate(**sums)
    result: dict[str, float | None] = {}
    for name, (length, _label) in PERIODS.items():
        start = counted_from(device, at - length)
        before = sum(((min(e or at, at) - start).total_seconds() for s, e in running if (e or at) > start), 0.0)
        total = (at - start).total_seconds()
        seconds = _seconds(online[name]) + before
        result[name] = round(min(100 * seconds / total, 100.0), 2) if total > 0 else None
    return result


def _seconds(value: dt.timedelta | int | float | None) -> float:
    """An aggregated duration: a timedelta (SQLite: Django converts microseconds) or None."""
    if value is None:
        return 0.0
    return value.total_seconds() if isinstance(value, dt.timedelta) else float(value) / 1_000_000


def merge(rows: list[tuple[dt.datetime, dt.datetime | None]], start: dt.datetime, end: dt.datetime,
          at: dt.datetime) -> list[Interval]:
    """Clip (started, ended or None while open) pairs to [start, min(end, at)) and merge overlaps."""
    limit = min(end, at)
    clipped = sorted((max(s, start), min(e or at, limit)) for s, e in rows)
    merged: list[list[dt.datetime]] = []
    for s, e in clipped:
        if e <= s:
            continue
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s, e) for s, e in merged]


@dataclass(frozen=True)
class Band:
    x: float
    width: float
    start: dt.datetime
    end: dt.datetime


@dataclass(frozen=True)
class Timeline:
    period: str
    start: dt.datetime
    end: dt.datetime
    bands: list[Band]
    availability: dict[str, float | None]  # by period name
    width: int = TIMELINE_WIDTH


def bands(intervals: list[Interval], start: dt.datetime, end: dt.datetime, width: int = TIMELINE_WIDTH) -> list[Band]:
    """The intervals as x/width on a `width`-unit axis; those less than a unit apart are drawn as one."""
    span = (end - start).total_seconds()
    result: list[Band] = []
    for s, e in intervals:
        x0 = (s - start).total_seconds() / span * width
        x1 = (e - start).total_seconds() / span * width
        if result and x0 - (result[-1].x + result[-1].width) < 1:
            last = result[-1]
            result[-1] = Band(last.x, x1 - last.x, last.start, e)
        else:
            result.append(Band(x0, x1 - x0, s, e))
    # a session of seconds in a month still shows: at least a fifth of a unit
    return [Band(round(b.x, 2), round(max(b.width, 0.2), 2), b.start, b.end) for b in result]


def counted_from(device: Device, start: dt.datetime) -> dt.datetime:
    """A period's availability counts from the device's creation when it is younger than the period."""
    return max(start, device.created_at) if device.created_at else start


def device_timeline(device: Device, period: str = DEFAULT_PERIOD, at: dt.datetime | None = None) -> Timeline:
    """The period's bands and every period's availability: three reads, however long the history."""
    at = at or now()
    start = at - PERIODS[period][0]
    longest = at - max(length for length, _label in PERIODS.values())
    running = running_at(device, longest)
    availability_by_period = shares(device, at, running)
    # one unit of the axis: shorter offline gaps are not drawn, so the database sends no record inside them
    unit = (at - start) / TIMELINE_WIDTH
    if start != longest:
        running = running_at(device, start)
    intervals = intervals_between(device, start, at, at, min_gap=unit, running=running)
    return Timeline(period=period, start=start, end=at, bands=bands(intervals, start, at),
                    availability=availability_by_period)
