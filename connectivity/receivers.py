"""What assets tells connectivity: a disabled, reset or deleted device loses its live session at once."""

from __future__ import annotations

from typing import Any

from django.dispatch import receiver

from assets.signals import device_secrets_reset, devices_deleted, devices_disabled

from . import protocol as p
from .services import kick_devices


@receiver(devices_disabled, dispatch_uid="connectivity.kick_disabled")
def kick_disabled(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    kick_devices(device_ids, "device disabled", p.DEVICE_DISABLED)


@receiver(device_secrets_reset, dispatch_uid="connectivity.kick_reset")
def kick_reset(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    kick_devices(device_ids, "device secret reset", p.SIGN_CHECK_FAILED)


@receiver(devices_deleted, dispatch_uid="connectivity.kick_deleted")
def kick_deleted(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    kick_devices(device_ids, "device deleted", p.NOT_FOUND)
