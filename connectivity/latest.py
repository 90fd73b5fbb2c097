"""Latest values, buffered in each connection process and written in one upsert per interval.

A device reporting once a second must not cost a database round trip per message: its reply
goes out as soon as the values are checked, and the newest value per (device, point) is
written within `CONNECTIVITY_LATEST_FLUSH_SECONDS`. A crash loses at most that interval of
"latest" values; traces of the messages themselves are recorded as they arrive.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils.timezone import now

from assets.models import Device

from . import signals
from .conf import latest_flush_seconds
from .db import in_thread
from .models import LatestValue, ValueHistory
from .periodic import Periodic


@dataclass(frozen=True)
class LatestRow:
    device_id: int
    kind: str
    identifier: str
    value: Any
    time: dt.datetime


class LatestValueBuffer:
    def __init__(self) -> None:
        self._pending: dict[tuple[int, str, str], LatestRow] = {}
        self._lock = threading.Lock()
        # a failed write is retried with newer values at the next interval
        self._flusher = Periodic(latest_flush_seconds, self.flush, "could not store latest values")

    def add(self, device_id: int, kind: str, values: dict[str, Any], time: dt.datetime) -> None:
        with self._lock:
            for identifier, value in values.items():
                key = (device_id, kind, identifier)
                held = self._pending.get(key)
                if held is None or held.time <= time:
                    self._pending[key] = LatestRow(device_id, kind, identifier, value, time)

    def take(self) -> list[LatestRow]:
        with self._lock:
            rows, self._pending = list(self._pending.values()), {}
        return rows

    def __len__(self) -> int:
        return len(self._pending)

    async def flush(self) -> int:
        rows = self.take()
        if rows:
            await in_thread(store_latest_values)(rows)
        return len(rows)

    def ensure_flusher(self) -> None:
        """Start the periodic writer in the running event loop (once per loop)."""
        self._flusher.ensure_running()


def store_latest_values(rows: list[LatestRow]) -> None:
    """One upsert for a batch of latest values; rows of devices deleted meanwhile are dropped.

    Written in SQL rather than through bulk_create: at thousands of rows a second the ORM's
    per-object cost would take a third of the connection process's CPU.
    """
    if not rows:
        return
    stamp = now()
    table = connection.ops.quote_name(LatestValue._meta.db_table)
    device_table = connection.ops.quote_name(Device._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in
                        ("device_id", "kind", "identifier", "value", "time", "received_at"))
    updates = ", ".join(f"{c} = excluded.{c}" for c in
                        (connection.ops.quote_name(n) for n in ("value", "time", "received_at")))
    conflict = (f"ON CONFLICT (device_id, kind, identifier) DO UPDATE SET {updates} "
                f"WHERE {table}.{connection.ops.quote_name('time')} <= excluded.{connection.ops.quote_name('time')}")
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # the whole batch as one JSON parameter: cheaper to build than arrays or many rows
                batch = json.dumps([{"d": r.device_id, "k": r.kind, "i": r.identifier, "v": r.value,
                                     "t": r.time.isoformat()} for r in rows])
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT u.d, u.k, u.i, u.v, u.t, %s "
                    "FROM jsonb_to_recordset(%s::jsonb) AS u(d bigint, k text, i text, v jsonb, t timestamptz) "
                    f"WHERE EXISTS (SELECT 1 FROM {device_table} WHERE id = u.d) {conflict}", [stamp, batch])
            else:
                adapt = connection.ops.adapt_datetimefield_value
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) SELECT %s, %s, %s, %s, %s, %s "
                    f"WHERE EXISTS (SELECT 1 FROM {device_table} WHERE id = %s) {conflict}",
                    [(r.device_id, r.kind, r.identifier, json.dumps(r.value), adapt(r.time), adapt(stamp),
                      r.device_id) for r in rows])
    except IntegrityError:
        # a device deleted between the check and the insert: keep the others' values
        ids = {r.device_id for r in rows}
        existing = set(Device.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if existing == ids:
            raise
        store_latest_values([r for r in rows if r.device_id in existing])
        return
    signals.send(signals.values_stored, rows=rows)


def store_history(rows: list[LatestRow]) -> None:
    """Values kept with their own timestamps (a resume: what a device cached while offline)."""
    existing = set(Device.objects.filter(pk__in={r.device_id for r in rows}).values_list("pk", flat=True))
    ValueHistory.objects.bulk_create(
        [ValueHistory(device_id=r.device_id, kind=r.kind, identifier=r.identifier, value=r.value, time=r.time)
         for r in rows if r.device_id in existing], batch_size=1_000)


# one per process: every connection of the process shares it
buffer = LatestValueBuffer()
