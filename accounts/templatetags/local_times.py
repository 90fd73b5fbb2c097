"""{{ value|local_time }} / {{ value|local_time:"table" }} and {% zone_name %}: times in the user's zone,
the zone named (accounts.time_zones)."""

from __future__ import annotations

from datetime import datetime

from django import template
from django.utils.safestring import SafeString

from accounts.time_zones import time_html, zone_name_html

register = template.Library()


@register.filter(expects_localtime=False)
def local_time(value: datetime | None, kind: str = "datetime") -> SafeString | str:
    return time_html(value, kind) if isinstance(value, datetime) else ""


@register.simple_tag
def zone_name() -> SafeString:
    return zone_name_html()
