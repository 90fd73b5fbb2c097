"""`{% latest_values device as latest %}`: the details page shows latest data without its view knowing."""

from __future__ import annotations

from django import template

from assets.models import Device

from ..queries import latest_values as latest_values_of

register = template.Library()


@register.simple_tag
def latest_values(device: Device) -> dict:
    return latest_values_of(device)
