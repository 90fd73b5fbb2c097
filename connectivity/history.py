"""Connection history writes: a record per session, started and ended inside the transactions that
open and close `DeviceSession` rows (handlers/session.py), so the history never disagrees with status.

Transports and kicks describe an ending in words ("keep-alive timeout", "device disabled", EMQX's
"disconnected (takenover)"); `end_reason` turns those words into the stored `EndReason`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db import transaction
from django.utils.timezone import now

from .models import ConnectionRecord, EndReason

# the words each close path uses (transports, kicks, sweeps) → the reason kept in the history
REASONS: dict[str, EndReason] = {
    "connection closed": EndReason.CLOSED,
    "combine.logout": EndReason.CLOSED,
    "keep-alive timeout": EndReason.KEEPALIVE,
    "device disabled": EndReason.DISABLED,
    "device secret reset": EndReason.SECRET_RESET,
    "replaced by a new login": EndReason.REPLACED,
    "the server holding the connection stopped answering": EndReason.SERVER_LOST,
    "broker stopped": EndReason.SERVER_SHUTDOWN,
    "server stopped": EndReason.SERVER_SHUTDOWN,
    # EMQX's disconnect reasons, as the webhook passes them: "disconnected (<reason>)"
    "disconnected (normal)": EndReason.CLOSED,
    "disconnected (closed)": EndReason.CLOSED,
    "disconnected (sock_closed)": EndReason.CLOSED,
    "disconnected (keepalive_timeout)": EndReason.KEEPALIVE,
    "disconnected (takenover)": EndReason.REPLACED,
    "disconnected (takeovered)": EndReason.REPLACED,
    "disconnected (discarded)": EndReason.REPLACED,
}


def end_reason(words: str) -> EndReason:
    """The stored reason for a close path's words (OTHER for words no path is known to use)."""
    return REASONS.get(words, EndReason.OTHER)


def start_record(device_id: int, ou_id: int, session_id: str, transport: str, stamp: dt.datetime, *,
                 client_address: str = "", via_gateway: bool = False) -> None:
    """A session began (one INSERT, in the caller's transaction)."""
    ConnectionRecord.objects.create(device_id=device_id, ou_id=ou_id, session_id=session_id, transport=transport,
                                    client_address=client_address[:64], via_gateway=via_gateway, started_at=stamp)


def end_records(device_ids: Iterable[int], reason: EndReason, stamp: dt.datetime, *,
                session_id: str | None = None) -> int:
    """The open records of these devices (of this session, if given) end (one UPDATE)."""
    ids = list(device_ids)
    if not ids:
        return 0
    records = ConnectionRecord.objects.filter(device_id__in=ids, ended_at__isnull=True)
    if session_id is not None:
        records = records.filter(session_id=session_id)
    return records.update(ended_at=stamp, end_reason=reason)


def move_records(device_ids: list[int], source_ou_id: int, target_ou_id: int) -> int:
    """After a migration: the open records in the source OU end (migrated) and go on in the target OU,
    so each OU keeps only the time the device spent with it."""
    from .handlers.session import _lock  # the same lock as the session paths

    stamp = now()
    with transaction.atomic():
        _lock(device_ids)
        open_records = list(ConnectionRecord.objects.filter(device_id__in=device_ids, ou_id=source_ou_id,
                                                             ended_at__isnull=True))
        if not open_records:
            return 0
        ConnectionRecord.objects.filter(pk__in=[r.pk for r in open_records]).update(
            ended_at=stamp, end_reason=EndReason.MIGRATED)
        ConnectionRecord.objects.bulk_create([ConnectionRecord(
            device_id=r.device_id, ou_id=target_ou_id, session_id=r.session_id, transport=r.transport,
            client_address=r.client_address, via_gateway=r.via_gateway, started_at=stamp) for r in open_records])
    return len(open_records)


def purge_old_records(older_than: dt.timedelta, *, batch: int = 5_000, at: dt.datetime | None = None) -> int:
    """Delete records that ended before the retention window, in batches (each its own short transaction)."""
    cutoff = (at or now()) - older_than
    purged = 0
    while True:
        ids = list(ConnectionRecord.objects.filter(ended_at__lt=cutoff).order_by().values_list("pk", flat=True)[:batch])
        if not ids:
            return purged
        purged += ConnectionRecord.objects.filter(pk__in=ids).delete()[0]
