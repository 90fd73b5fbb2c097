"""What observability hears from connectivity: sessions ending and starting, values, refused logins.

Each runs in a savepoint of the sender's transaction: an alerting failure is logged (connectivity.signals
sends robustly) and never takes the session change with it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.dispatch import receiver

from connectivity import signals

from . import alerting


@receiver(signals.devices_went_offline, dispatch_uid="observability.offline")
def offline(sender: Any, device_ids: list[int], at: dt.datetime, **kwargs: Any) -> None:
    with transaction.atomic():
        alerting.devices_went_offline(device_ids, at)


@receiver(signals.device_came_online, dispatch_uid="observability.online")
def online(sender: Any, device_id: int, at: dt.datetime, **kwargs: Any) -> None:
    with transaction.atomic():
        alerting.device_came_online(device_id, at)


@receiver(signals.values_stored, dispatch_uid="observability.values")
def values(sender: Any, rows: list, **kwargs: Any) -> None:
    with transaction.atomic():
        alerting.values_stored(rows)


@receiver(signals.login_refused, dispatch_uid="observability.login_refused")
def refused(sender: Any, device_id: int, at: dt.datetime, **kwargs: Any) -> None:
    with transaction.atomic():
        alerting.login_refused(device_id, at)
