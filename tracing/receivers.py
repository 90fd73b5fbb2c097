"""Listeners for what other apps announce: deleted and migrated devices end their traces, and a
revoked OU permission makes that user's open trace pages re-check access."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .models import StopReason
from .push import publish, user_group
from .services import end_device_traces


def on_devices_deleted(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    end_device_traces(device_ids, StopReason.DELETED)


def on_devices_migrated(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    end_device_traces(device_ids, StopReason.MIGRATED)


def on_permission_revoked(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_id = instance.user_id
    transaction.on_commit(lambda: publish(user_group(user_id), {"type": "access.check"}))
