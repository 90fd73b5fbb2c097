"""Reads the console and the API share: a device's latest values and recent commands."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from assets.models import Device

from .models import LatestValue, ValueKind


@dataclass(frozen=True)
class LatestRowView:
    identifier: str
    name: str
    data_type: str
    unit: str
    value: Any
    time: Any  # datetime or None when never reported
    received_at: Any


def latest_values(device: Device) -> dict[str, list[LatestRowView]]:
    """Every measure point and event of the device's model, in model order, with its latest value."""
    model = device.product.model
    stored = {(v.kind, v.identifier): v for v in LatestValue.objects.filter(device=device)}
    result: dict[str, list[LatestRowView]] = {}
    for kind, features in ((ValueKind.MEASUREPOINT, model.measurepoints), (ValueKind.EVENT, model.events)):
        rows = []
        for feature in features:
            held = stored.get((kind.value, feature.get("identifier")))
            rows.append(LatestRowView(
                identifier=feature.get("identifier", ""), name=feature.get("name") or feature.get("identifier", ""),
                data_type=feature.get("data_type", ""), unit=(feature.get("spec") or {}).get("unit", ""),
                value=held.value if held else None, time=held.time if held else None,
                received_at=held.received_at if held else None))
        result[kind.value] = rows
    return result
