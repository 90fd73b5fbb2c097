"""What assets tells connectivity: a disabled, reset or deleted device loses its live session at once (a
migrated one keeps it, its connection history split between the OUs),
and the connected gateway of a sub-device hears of it (combine.disable / enable / delete)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.dispatch import receiver

from assets.models import Device
from assets.signals import device_secrets_reset, devices_deleted, devices_disabled, devices_enabled, devices_migrated
from enos_portal.id_lists import id_among

from . import protocol as p
from .handlers.session import HEARTBEAT_TRANSPORTS, end_sessions_and_kick
from .history import move_records
from .models import DeviceSession
from .services import gateway_notices, kick_devices, send_notices


@receiver(devices_disabled, dispatch_uid="connectivity.kick_disabled")
def kick_disabled(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    # a bulk disable sends thousands of ids, few of them connected or behind a gateway: two narrow queries
    # (the ids as one array on PostgreSQL) find those, and only they go on to the kick and the notices
    connected = list(DeviceSession.objects.filter(id_among(DeviceSession, "device_id", device_ids))
                     .values_list("device_id", "transport").distinct())
    # the sessions a portal process holds end here, set-based, so that their connections close with no
    # database work; a clustered broker's are kicked through its API (its disconnect report ends them)
    beating = [device_id for device_id, transport in connected if transport in HEARTBEAT_TRANSPORTS]
    if beating:
        end_sessions_and_kick(beating, "device disabled", p.DEVICE_DISABLED)
    elsewhere = [device_id for device_id, transport in connected if transport not in HEARTBEAT_TRANSPORTS]
    if elsewhere:
        kick_devices(elsewhere, "device disabled", p.DEVICE_DISABLED)
    subs = list(Device.objects.filter(id_among(Device, "id", device_ids), gateway__isnull=False)
                .values_list("pk", flat=True))
    if subs:
        send_notices(gateway_notices(subs, p.COMBINE_DISABLE))


@receiver(devices_enabled, dispatch_uid="connectivity.notice_enabled")
def notice_enabled(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    send_notices(gateway_notices(device_ids, p.COMBINE_ENABLE))


@receiver(device_secrets_reset, dispatch_uid="connectivity.kick_reset")
def kick_reset(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    kick_devices(device_ids, "device secret reset", p.SIGN_CHECK_FAILED)


@receiver(devices_deleted, dispatch_uid="connectivity.kick_deleted")
def kick_deleted(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    kick_devices(device_ids, "device deleted", p.NOT_FOUND)
    notices = gateway_notices(device_ids, p.COMBINE_DELETE)  # before the rows (and their gateway link) go
    transaction.on_commit(lambda: send_notices(notices))


@receiver(devices_migrated, dispatch_uid="connectivity.history_migrated")
def history_migrated(sender: Any, device_ids: list[int], source_ou_id: int, target_ou_id: int, **kwargs: Any) -> None:
    """A connected device keeps its session across a move; its history splits between the two OUs."""
    move_records(list(device_ids), source_ou_id, target_ou_id)
