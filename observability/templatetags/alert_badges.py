"""{% alerted_devices rows as alerted %}: which devices of a table page have a live (open or acknowledged) alert,
in one query for the page; the device table shows them a badge."""

from __future__ import annotations

from collections.abc import Iterable

from django import template

from ..models import Alert, AlertState

register = template.Library()


@register.simple_tag
def alerted_devices(rows: Iterable) -> frozenset[int]:
    ids = [device.pk for device in rows]
    if not ids:
        return frozenset()
    return frozenset(Alert.objects.filter(device_id__in=ids, state__in=[AlertState.OPEN, AlertState.ACKNOWLEDGED])
                     .values_list("device_id", flat=True).distinct())
