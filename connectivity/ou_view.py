"""Reads of the OU view (the console's Connectivity page and /api/connectivity/): devices online per hour
over a period and the devices that flap the most, from the roll-ups (connectivity.rollup). Each is one
query on a small table, whatever the number of devices and sessions; callers pass the querysets already
narrowed to what the user may see (`visible_to`) and to the OU and product asked for.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import QuerySet, Sum
from django.utils.timezone import get_current_timezone

from assets.models import Device

from .models import FlappingDevice, OnlineHour
from .rollup import HOUR, hour_of
from .timeline import PERIODS

CHART_WIDTH = 1000  # SVG user units across the period
CHART_HEIGHT = 200
FLAPPING_SHOWN = 20


@dataclass(frozen=True)
class Bucket:
    start: dt.datetime
    devices: int

    @property
    def end(self) -> dt.datetime:
        return self.start + HOUR


@dataclass(frozen=True)
class OnlineSeries:
    period: str
    buckets: list[Bucket]  # one per hour, oldest first; the last is the hour running now

    @property
    def start(self) -> dt.datetime:
        return self.buckets[0].start

    @property
    def end(self) -> dt.datetime:
        return self.buckets[-1].end

    @property
    def peak(self) -> Bucket:
        return max(self.buckets, key=lambda b: (b.devices, b.start))

    @property
    def low(self) -> Bucket:
        return min(self.buckets, key=lambda b: (b.devices, b.start))

    @property
    def now(self) -> Bucket:
        return self.buckets[-1]


def online_series(hours: QuerySet[OnlineHour], period: str, at: dt.datetime) -> OnlineSeries:
    """The period's hours ending with the one holding `at`, summed over the OUs and products of `hours`."""
    last = hour_of(at)
    count = int(PERIODS[period][0] / HOUR)
    first = last - (count - 1) * HOUR
    # aware datetimes hash by their instant: the database's hours find the keys whatever their tzinfo
    counted = dict(hours.filter(hour__gte=first, hour__lte=last).values("hour").order_by()
                   .annotate(total=Sum("devices")).values_list("hour", "total"))
    return OnlineSeries(period, [Bucket(first + i * HOUR, int(counted.get(first + i * HOUR, 0)))
                                 for i in range(count)])


@dataclass(frozen=True)
class SummaryRow:
    """A line of the chart's text alternative: one hour (a day's chart) or one day (longer periods)."""

    start: dt.datetime
    end: dt.datetime
    low: int
    high: int


def summary_rows(series: OnlineSeries) -> list[SummaryRow]:
    """Hours for a day, else days in the current time zone (lowest and highest hour of each)."""
    if len(series.buckets) <= 24:
        return [SummaryRow(b.start, b.end, b.devices, b.devices) for b in series.buckets]
    rows: list[SummaryRow] = []
    day = None
    zone = get_current_timezone()  # once: localtime() looks it up at every call
    for bucket in series.buckets:
        local_day = bucket.start.astimezone(zone).date()
        if rows and local_day == day:
            last = rows[-1]
            rows[-1] = SummaryRow(last.start, bucket.end, min(last.low, bucket.devices), max(last.high, bucket.devices))
        else:
            rows.append(SummaryRow(bucket.start, bucket.end, bucket.devices, bucket.devices))
            day = local_day
    return rows


def chart_path(series: OnlineSeries, top: int, width: int = CHART_WIDTH, height: int = CHART_HEIGHT) -> str:
    """The area under the hourly counts as one SVG path, a step per hour (`top` devices reach the top)."""
    step = width / len(series.buckets)
    scale = height / top if top else 0.0
    parts = [f"M0 {height}"]
    for i, bucket in enumerate(series.buckets):
        y = round(height - bucket.devices * scale, 2)
        parts.append(f"L{round(i * step, 2)} {y}L{round((i + 1) * step, 2)} {y}")
    parts.append(f"L{width} {height}Z")
    return "".join(parts)


def axis_top(peak: int) -> int:
    """A round number at or above the peak for the chart's top (1, 2, 5 × a power of ten)."""
    if peak <= 0:
        return 1
    power = 1
    while True:
        for factor in (1, 2, 5):
            if factor * power >= peak:
                return factor * power
        power *= 10


@dataclass(frozen=True)
class Flapping:
    device: Device
    sessions: int
    per_day: float
    counted_at: dt.datetime


def most_flapping(ranks: QuerySet[FlappingDevice], period: str, limit: int = FLAPPING_SHOWN) -> list[Flapping]:
    """The devices of `ranks` that started the most sessions in the period, most first (one query)."""
    days = PERIODS[period][0] / dt.timedelta(days=1)
    rows = (ranks.filter(period=period).select_related("device__product").order_by("-sessions", "device_id")[:limit])
    return [Flapping(row.device, row.sessions, round(row.sessions / days, 2), row.counted_at) for row in rows]
