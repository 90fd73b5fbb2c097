"""What a live connection knows about its device without asking the database on every message.

A `Session` is built once at login and lives as long as the connection; the thing model's
features are cached per process for a few seconds, so a data report is checked in memory.
"""

from __future__ import annotations

import hashlib
import threading
import time
from dataclasses import dataclass, field

from assets.models import Device, ThingModel

from .conf import model_cache_seconds


def secret_stamp(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class DeviceRef:
    """The identity of a logged-in device: enough to check and route its messages."""

    id: int
    asset_id: str
    product_key: str
    device_key: str
    model_id: int
    is_gateway: bool
    # a digest of the secret it logged in with: a reset secret ends the session (never the secret itself)
    secret_stamp: str = ""

    @classmethod
    def of(cls, device: Device) -> DeviceRef:
        return cls(id=device.pk, asset_id=device.asset_id, product_key=device.product.product_key,
                   device_key=device.device_key, model_id=device.product.model_id,
                   is_gateway=device.product.is_gateway and device.gateway_id is None,
                   secret_stamp=secret_stamp(device.device_secret))

    @property
    def key(self) -> tuple[str, str]:
        return self.product_key, self.device_key


@dataclass
class Session:
    """One live connection: its device and, for a gateway, the sub-devices logged in through it."""

    session_id: str
    transport: str
    device: DeviceRef
    client_id: str = ""
    client_ip: str = ""  # where the connection comes from: its sub-devices' failed logins count there too
    sub_devices: dict[tuple[str, str], DeviceRef] = field(default_factory=dict)
    # dynamic activation: the deviceSecret to hand to the device once (never traced)
    issued_secret: str | None = None

    def target(self, product_key: str | None, device_key: str | None) -> DeviceRef | None:
        """The device a message is for: this connection's own, or one of its logged-in sub-devices."""
        if product_key is None and device_key is None:
            return self.device
        key = (product_key or "", device_key or "")
        if key == self.device.key:
            return self.device
        return self.sub_devices.get(key)

    def by_id(self, device_id: int) -> DeviceRef | None:
        if device_id == self.device.id:
            return self.device
        # copies: a service call on a pool thread may change sub_devices meanwhile
        return next((sub for sub in list(self.sub_devices.values()) if sub.id == device_id), None)

    def device_ids(self) -> set[int]:
        return {self.device.id, *(sub.id for sub in list(self.sub_devices.values()))}


@dataclass(frozen=True)
class ModelFeatures:
    model_id: str
    measurepoints: dict[str, dict]
    events: dict[str, dict]
    services: dict[str, dict]


_cache: dict[int, tuple[float, ModelFeatures]] = {}
_cache_lock = threading.Lock()


def model_features(model_pk: int) -> ModelFeatures:
    """The model's features, from a per-process cache refreshed every few seconds."""
    now = time.monotonic()
    cached = _cache.get(model_pk)
    if cached and now - cached[0] < model_cache_seconds():
        return cached[1]
    model = ThingModel.objects.only("model_id", "measurepoints", "events", "services").get(pk=model_pk)
    features = ModelFeatures(
        model_id=model.model_id,
        measurepoints={f["identifier"]: f for f in model.measurepoints if isinstance(f, dict)},
        events={f["identifier"]: f for f in model.events if isinstance(f, dict)},
        services={s["identifier"]: s for s in model.services if isinstance(s, dict)},
    )
    with _cache_lock:
        _cache[model_pk] = (now, features)
    return features


def cached_model_features(model_pk: int) -> ModelFeatures | None:
    """The model's features if this process holds a fresh copy, else None (no query)."""
    cached = _cache.get(model_pk)
    if cached and time.monotonic() - cached[0] < model_cache_seconds():
        return cached[1]
    return None


def forget_models() -> None:
    """Drop the cache (tests change models between messages)."""
    with _cache_lock:
        _cache.clear()
