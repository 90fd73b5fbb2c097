"""Listeners for what other apps announce: deleted and migrated devices end their traces, a reset
secret reaches every process's traced set (its logs mask the new secret), and a revoked OU
permission makes that user's open trace pages re-check access."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from .active import active_traces
from .models import StopReason
from .push import publish, user_group
from .services import end_device_traces


def on_devices_deleted(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    end_device_traces(device_ids, StopReason.DELETED)


def on_devices_migrated(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    end_device_traces(device_ids, StopReason.MIGRATED)


def on_device_secrets_reset(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
    # sent after the commit: the processes reload the traced set, with the new secret, within a second
    active_traces.bump()


def on_permission_revoked(sender: Any, instance: Any, **kwargs: Any) -> None:
    user_id = instance.user_id
    transaction.on_commit(lambda: publish(user_group(user_id), {"type": "access.check"}))
