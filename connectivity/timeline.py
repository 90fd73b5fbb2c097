"""Reads of the connection history shared by the console and the API: a device's online intervals over
a period, its availability (% of the period online), and the bands of a timeline drawn from them.

A device has at most one live session, so its records do not overlap: the records of a period are
those that started in it plus the one running at its start (the latest that started before). Two
indexed range reads, whatever the length of the history.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet
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


def intervals_between(device: Device, start: dt.datetime, end: dt.datetime, at: dt.datetime) -> list[Interval]:
    """The device's online intervals clipped to [start, end), oldest first, merged where they touch."""
    records = device_records(device).order_by()
    rows = list(records.filter(started_at__gte=start, started_at__lt=end).values_list("started_at", "ended_at"))
    running = records.filter(started_at__lt=start).order_by("-started_at").values_list("started_at", "ended_at")[:1]
    rows.extend(running)
    return merge(rows, start, end, at)


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


def availability(intervals: list[Interval], start: dt.datetime, end: dt.datetime) -> float | None:
    """% of [start, end) online (None for an empty period, e.g. a device created after it ended)."""
    total = (end - start).total_seconds()
    if total <= 0:
        return None
    online = sum((min(e, end) - max(s, start)).total_seconds() for s, e in intervals if e > start and s < end)
    return round(100 * online / total, 2)


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
    """The period's bands and every period's availability, from one read of the longest period."""
    at = at or now()
    longest = max(length for length, _label in PERIODS.values())
    intervals = intervals_between(device, at - longest, at, at)
    shares = {name: availability(intervals, counted_from(device, at - length), at)
              for name, (length, _label) in PERIODS.items()}
    start = at - PERIODS[period][0]
    return Timeline(period=period, start=start, end=at,
                    bands=bands(merge(list(intervals), start, at, at), start, at), availability=shares)
