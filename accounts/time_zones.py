"""The time zone the console shows times in: the user's profile setting, else the browser's (a cookie
set by portal/times.js), else UTC. Times render as <time> elements naming their zone by its IANA name
(abbreviations such as CST are ambiguous: China or US Central); the API keeps ISO 8601 UTC.
"""

from __future__ import annotations

import zoneinfo
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache
from typing import Any, Literal
from urllib.parse import unquote

from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString

COOKIE_NAME = "tz"  # set by enos_portal/static/portal/times.js from Intl.DateTimeFormat()
DEFAULT_ZONE = "UTC"

# profile: the user's setting; browser: the cookie; default: neither (the first page of a browser)
ZoneSource = Literal["profile", "browser", "default"]

# how a time reads: "datetime" names its zone after it; "table" and "log" stand in a column whose
# header names the zone ({% zone_name %}); "time" is the clock time of a near moment, zone named
TIME_FORMATS = {
    "datetime": "%Y-%m-%d %H:%M:%S",
    "table": "%Y-%m-%d %H:%M:%S",
    "log": "%Y-%m-%d %H:%M:%S.%f",
    "time": "%H:%M:%S",
}
NAMED_FORMATS = {"datetime", "time"}


@cache
def time_zone_names() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


def is_time_zone(name: Any) -> bool:
    return isinstance(name, str) and name in time_zone_names()


def grouped_time_zones() -> list[tuple[str, list[tuple[str, str]]]]:
    """Every zone grouped by its region (Africa, America, Asia …), sorted: a select's optgroups."""
    groups: dict[str, list[tuple[str, str]]] = {}
    for name in sorted(time_zone_names()):
        region, _, place = name.partition("/")
        if not place:
            region, place = "Other", name
        groups.setdefault(region, []).append((name, place.replace("_", " ")))
    return sorted(groups.items(), key=lambda item: (item[0] == "Other", item[0]))


@dataclass(frozen=True)
class ActiveZone:
    name: str
    source: ZoneSource


def zone_for(user: Any, cookies: dict[str, str]) -> ActiveZone:
    """The zone a user's pages show times in (a cookie naming no known zone is ignored)."""
    setting = getattr(user, "time_zone", "") if getattr(user, "is_authenticated", False) else ""
    if is_time_zone(setting):
        return ActiveZone(setting, "profile")
    cookie = unquote(cookies.get(COOKIE_NAME) or "")[:64]
    if is_time_zone(cookie):
        return ActiveZone(cookie, "browser")
    return ActiveZone(DEFAULT_ZONE, "default")


def utc_offset(value: datetime) -> str:
    """+08:00, -05:00, +00:00: the offset of an aware local time."""
    offset = value.utcoffset()
    minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{minutes:02d}"


def time_html(value: datetime | None, kind: str = "datetime", zone: tzinfo | None = None) -> SafeString | str:
    """A time in the active zone (or `zone`): <time datetime="UTC ISO" title="zone (UTC+hh:mm)">…</time>.

    Nothing for None (so `|default:"—"` applies). portal/times.js rewrites the same text in the
    browser's zone when the server did not know it yet (the first page of a browser)."""
    if value is None or value == "":
        return ""
    if timezone.is_naive(value):
        value = timezone.make_aware(value, UTC)
    kind = kind if kind in TIME_FORMATS else "datetime"
    zone = zone or timezone.get_current_timezone()
    local = value.astimezone(zone)
    name = getattr(zone, "key", None) or timezone.get_current_timezone_name()
    text = local.strftime(TIME_FORMATS[kind])
    if kind == "log":
        text = text[:23]  # to the millisecond
    if kind in NAMED_FORMATS:
        text = f"{text} {name}"
    iso = value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return format_html('<time datetime="{}" title="{} (UTC{})" data-time-format="{}">{}</time>',
                       iso, name, utc_offset(local), kind, text)


def zone_name_html() -> SafeString:
    """The active zone for a column header: <span class="zone-name">(Asia/Shanghai)</span>."""
    return format_html('<span class="zone-name">({})</span>', timezone.get_current_timezone_name())
