"""Domain operations on message traces: the one place that writes traces and their logs.

Every door (console, API, admin, tasks, signal receivers) calls these. Start, extend and stop take
their actor first: a user with write access (the system never starts or stops a trace for anyone).
The sweeps and the ends that follow a device's deletion or migration are the system's own work:
they take no actor and are audited as SYSTEM (accounts.actors). They raise DomainError, Conflict or
AccessDenied like assets' services.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Case, Value, When
from django.utils import translation
from django.utils.timezone import now
from django.utils.translation import gettext, ngettext

from accounts import audit
from accounts.actors import SYSTEM, is_system
from accounts.errors import AccessDenied, Conflict, DomainError
from accounts.permissions import CHANGE, can
from assets.models import Device

from .active import ActiveTrace, active_traces
from .conf import MAX_DURATION, MIN_DURATION, max_logs, retention
from .models import Direction, MessageTrace, Outcome, StopReason, TraceLog
from .payloads import clean_payload, mask_secrets, maskable_secrets
from .push import device_group, publish

if TYPE_CHECKING:
    from .recorder import TracedMessage

MESSAGE_OUTCOMES = {Outcome.OK, Outcome.ERROR, Outcome.TIMEOUT}


# --- shapes shared by the API, the pushes and the page ---------------------------------------------

def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def trace_json(trace: MessageTrace) -> dict[str, Any]:
    return {
        "id": trace.pk,
        "assetId": trace.device.asset_id if trace.device_id else None,
        "startedAt": _iso(trace.started_at),
        "expiresAt": _iso(trace.expires_at),
        "stoppedAt": _iso(trace.ended_at),
        "stopReason": trace.end_reason or None,
        "startedBy": trace.started_by.username if trace.started_by_id else None,
        "active": trace.is_active,
        "lastSeq": trace.last_seq,
        "dropped": trace.dropped,
    }


def log_json(log: TraceLog) -> dict[str, Any]:
    return {
        "seq": log.seq,
        "time": _iso(log.time),
        "direction": log.direction,
        "method": log.method,
        "outcome": log.outcome,
        "code": log.code,
        "message": log.message,
        "payload": log.payload,
    }


def describe_duration(duration: timedelta) -> str:
    minutes = int(duration.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = []
    if days:
        parts.append(ngettext("%(count)d day", "%(count)d days", days) % {"count": days})
    if hours:
        parts.append(ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours})
    if minutes:
        parts.append(ngettext("%(count)d minute", "%(count)d minutes", minutes) % {"count": minutes})
    return " ".join(parts) or gettext("less than a minute")


def _duration_in_english(duration: timedelta) -> str:
    # the audit log is a record kept in English, whoever's language the request was in
    with translation.override("en"):
        return describe_duration(duration)


def _utc(value: datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


# --- checks ---------------------------------------------------------------------------------------

def require_write(actor: Any, ou_pk: int) -> None:
    # a user with write access only: None is a TypeError, SYSTEM is refused
    if is_system(actor, system_allowed=False) or not can(actor, CHANGE, ou_pk):
        raise AccessDenied(gettext("Message tracing needs write access to Asset Management for this device's OU."))


def check_duration(duration: timedelta) -> None:
    if not isinstance(duration, timedelta) or not MIN_DURATION <= duration <= MAX_DURATION:
        raise DomainError(gettext("The trace duration must be between 1 minute and 3 days."), code="invalid_duration",
                          field="duration")


# --- start, extend, stop --------------------------------------------------------------------------

def start_trace(actor: Any, device: Device, duration: timedelta) -> MessageTrace:
    require_write(actor, device.ou_id)
    check_duration(duration)
    at = now()
    with transaction.atomic():
        current = MessageTrace.objects.select_for_update().open().filter(device=device).first()
        if current is not None:
            if current.expires_at > at:
                raise Conflict(
                    gettext("A message trace of this device is already running until %(time)s. Extend it or stop it.")
                    % {"time": _utc(current.expires_at)}, code="trace_active")
            # expired, and the sweep has not closed it yet: close it now so the new one may open
            _close(SYSTEM, current, current.expires_at, StopReason.EXPIRED)
        try:
            with transaction.atomic():
                trace = MessageTrace.objects.create(
                    ou_id=device.ou_id, device=device, started_at=at, expires_at=at + duration,
                    started_by=actor if getattr(actor, "is_authenticated", False) else None)
        except IntegrityError:  # another start won the race
            raise Conflict(gettext("A message trace of this device was just started. Extend it or stop it."),
                           code="trace_active") from None
        audit.record(actor, "trace.start", trace, ou=device.ou, object_repr=f"Trace of {device}",
                     after={"device": device.asset_id, "duration": _duration_in_english(duration),
                            "expires_at": _iso(trace.expires_at)})
        _announce(device.pk, {"type": "trace.started", "trace": trace_json(trace)})
    return trace


def extend_trace(actor: Any, trace: MessageTrace, duration: timedelta) -> MessageTrace:
    require_write(actor, trace.ou_id)
    check_duration(duration)
    at = now()
    if not trace.is_active:
        raise Conflict(gettext("This trace has ended: start a new one."), code="trace_ended")
    new_expiry = trace.expires_at + duration
    if new_expiry - at > MAX_DURATION:
        room = MAX_DURATION - (trace.expires_at - at)
        raise DomainError(gettext("A trace runs at most 3 days ahead: extend by at most %(duration)s.")
                          % {"duration": describe_duration(room)},
                          code="invalid_duration", field="duration")
    with transaction.atomic():
        changed = MessageTrace.objects.filter(pk=trace.pk, stopped_at__isnull=True, expires_at__gt=at).update(
            expires_at=new_expiry)
        if not changed:
            raise Conflict(gettext("This trace has ended: start a new one."), code="trace_ended")
        before = {"expires_at": _iso(trace.expires_at)}
        trace.expires_at = new_expiry
        audit.record(actor, "trace.extend", trace, ou=trace.ou, object_repr=f"Trace of {trace.device}",
                     before=before, after={"expires_at": _iso(new_expiry), "by": _duration_in_english(duration)})
        _announce(trace.device_id, {"type": "trace.extended", "trace": trace_json(trace)})
    return trace


def stop_trace(actor: Any, trace: MessageTrace) -> MessageTrace:
    require_write(actor, trace.ou_id)
    with transaction.atomic():
        if not trace.is_active or not _close(actor, trace, now(), StopReason.STOPPED):
            raise Conflict(gettext("This trace has already ended."), code="trace_ended")
    return trace


def _close(actor: Any, trace: MessageTrace, at: datetime, reason: StopReason) -> bool:
    """End `trace` once, whoever else tries at the same time (a conditional update claims it)."""
    by = actor if getattr(actor, "is_authenticated", False) else None
    changed = MessageTrace.objects.filter(pk=trace.pk, stopped_at__isnull=True).update(
        stopped_at=at, stop_reason=reason, stopped_by=by)
    if not changed:
        return False
    trace.stopped_at, trace.stop_reason, trace.stopped_by = at, reason, by
    action = {StopReason.STOPPED: "trace.stop", StopReason.EXPIRED: "trace.expire"}.get(reason, "trace.end")
    # named as trace.start names it; a deleted device's trace keeps its own number (its device id is gone)
    subject = f"Trace of {trace.device}" if trace.device_id else f"Trace {trace.pk} (device deleted)"
    audit.record(actor, action, trace, ou=trace.ou, object_repr=subject,
                 after={"reason": reason.value, "stopped_at": _iso(at), "logs": trace.last_seq})
    if trace.device_id:
        _announce(trace.device_id, {"type": "trace.ended", "trace": trace_json(trace)})
    return True


def _announce(device_id: int, event: dict[str, Any]) -> None:
    """After commit: tell every process the traced set changed, and the device's pages what happened."""
    active_traces.invalidate()

    def send() -> None:
        active_traces.bump()
        publish(device_group(device_id), event)

    transaction.on_commit(send)


# --- recording ------------------------------------------------------------------------------------

@dataclass(slots=True)
class PendingLog:
    """A log waiting for its seq: built where the message was handled, written alone or in a batch."""

    entry: ActiveTrace
    log: TraceLog


def build_log(entry: ActiveTrace, msg: TracedMessage, at: datetime) -> PendingLog:
    return PendingLog(entry, TraceLog(
        trace_id=entry.trace_id, time=at, direction=msg.direction if msg.direction in Direction.values else "",
        method=_text(msg.method, 128), outcome=msg.outcome if msg.outcome in MESSAGE_OUTCOMES else Outcome.ERROR,
        code=msg.code if isinstance(msg.code, int) and -2**31 <= msg.code < 2**31 else None,
        message=_text(mask_secrets(str(msg.message or ""), maskable_secrets(entry.secrets)), 500),
        payload=clean_payload(msg.payload, entry.secrets)))


def _text(value: Any, limit: int) -> str:
    # a device's text may hold NUL, which PostgreSQL refuses in any text column: one such log
    # must not sink the batch it is written with
    return str(value or "").replace("\x00", "")[:limit]


def record(entry: ActiveTrace, msg: TracedMessage, at: datetime) -> TraceLog | None:
    """Store one message in its trace now; None if the trace had ended by `at` (the message's own time)."""
    pending = build_log(entry, msg, at)
    return pending.log if not write_logs([pending]) else None


def write_logs(batch: list[PendingLog]) -> list[PendingLog]:
    """Write a batch of logs; returns those refused because their trace had ended.

    The condition on `expires_at` is judged per log, by its own time, under the trace row's lock:
    whatever the sweep or the processes' traced sets are doing, nothing is recorded after a trace's
    end, and the seqs of one trace have no holes. A batch costs the same few queries whatever its
    size; on PostgreSQL a single statement.
    """
    if connection.vendor == "postgresql":
        seqs, counters = _insert_postgresql(batch)
    else:
        with transaction.atomic():
            seqs, counters = _insert(batch)
    accepted: list[PendingLog] = []
    refused: list[PendingLog] = []
    for index, item in enumerate(batch):
        if index in seqs:
            item.log.seq = seqs[index]
            accepted.append(item)
        else:
            refused.append(item)
    cap = max_logs()
    over = [pk for pk, (last_seq, first_seq, _) in counters.items() if last_seq - first_seq + 1 > cap]
    if over:
        _trim(over, cap)
    if accepted:
        events = [(item.entry.device_id, {"type": "trace.logs", "trace": item.entry.trace_id,
                                          "logs": [log_json(item.log)]}) for item in accepted]

        def push() -> None:
            for device_id, event in events:
                publish(device_group(device_id), event)

        transaction.on_commit(push)
    return refused


Counters = dict[int, tuple[int, int, int]]  # trace id → (last_seq, first_seq, dropped) after the write


def _insert(batch: list[PendingLog]) -> tuple[dict[int, int], Counters]:
    """Lock the batch's traces (in id order: writers never deadlock), number and insert the accepted logs."""
    trace_ids = sorted({item.entry.trace_id for item in batch})
    live = {pk: [last_seq, first_seq, dropped, expires_at] for pk, last_seq, first_seq, dropped, expires_at in
            MessageTrace.objects.select_for_update().filter(pk__in=trace_ids, stopped_at__isnull=True)
            .order_by("pk").values_list("pk", "last_seq", "first_seq", "dropped", "expires_at")}
    seqs: dict[int, int] = {}
    for index, item in enumerate(batch):
        counter = live.get(item.entry.trace_id)
        if counter is not None and item.log.time < counter[3]:
            counter[0] += 1
            seqs[index] = item.log.seq = counter[0]
    if not seqs:
        return seqs, {}
    TraceLog.objects.bulk_create([batch[index].log for index in seqs])
    changed = sorted({batch[index].entry.trace_id for index in seqs})
    MessageTrace.objects.filter(pk__in=changed).update(
        last_seq=Case(*[When(pk=pk, then=Value(live[pk][0])) for pk in changed]))
    return seqs, {pk: (live[pk][0], live[pk][1], live[pk][2]) for pk in changed}


def _insert_postgresql(batch: list[PendingLog]) -> tuple[dict[int, int], Counters]:
    """The same in one statement (one round trip, atomic on its own)."""
    logs = [item.log for item in batch]
    trace_table, log_table = MessageTrace._meta.db_table, TraceLog._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""WITH input AS (
                    SELECT * FROM unnest(%s::bigint[], %s::timestamptz[], %s::varchar[], %s::varchar[],
                                         %s::varchar[], %s::integer[], %s::varchar[], %s::text[])
                    WITH ORDINALITY AS i(trace_id, time, direction, method, outcome, code, message, payload, ord)),
                live AS (
                    SELECT id, last_seq, expires_at FROM {trace_table}
                    WHERE id = ANY(%s::bigint[]) AND stopped_at IS NULL ORDER BY id FOR UPDATE),
                accepted AS (
                    SELECT input.*, live.last_seq + row_number() OVER (PARTITION BY input.trace_id
                                                                       ORDER BY input.ord) AS seq
                    FROM input JOIN live ON live.id = input.trace_id WHERE input.time < live.expires_at),
                inserted AS (
                    INSERT INTO {log_table} (trace_id, seq, time, direction, method, outcome, code, message, payload)
                    SELECT trace_id, seq, time, direction, method, outcome, code, message, payload::jsonb
                    FROM accepted),
                counted AS (
                    UPDATE {trace_table} AS t SET last_seq = m.last_seq
                    FROM (SELECT trace_id, max(seq) AS last_seq FROM accepted GROUP BY trace_id) AS m
                    WHERE t.id = m.trace_id
                    RETURNING t.id, t.last_seq, t.first_seq, t.dropped)
                SELECT 'log', ord, seq, 0, 0 FROM accepted
                UNION ALL SELECT 'trace', id, last_seq, first_seq, dropped FROM counted""",
            [[log.trace_id for log in logs], [log.time for log in logs], [log.direction for log in logs],
             [log.method for log in logs], [log.outcome for log in logs], [log.code for log in logs],
             [log.message for log in logs],
             [None if log.payload is None else json.dumps(log.payload, ensure_ascii=False) for log in logs],
             sorted({log.trace_id for log in logs})])
        rows = cursor.fetchall()
    seqs = {ordinal - 1: seq for kind, ordinal, seq, _, _ in rows if kind == "log"}
    counters = {pk: (last_seq, first_seq, dropped) for kind, pk, last_seq, first_seq, dropped in rows
                if kind == "trace"}
    return seqs, counters


def _trim(trace_ids: list[int], cap: int) -> None:
    with transaction.atomic():
        rows = (MessageTrace.objects.select_for_update().filter(pk__in=sorted(trace_ids)).order_by("pk")
                .values_list("pk", "last_seq", "first_seq", "dropped"))
        for pk, last_seq, first_seq, dropped in rows:
            if last_seq - first_seq + 1 > cap:
                MessageTrace.objects.filter(pk=pk).update(**_drop_oldest(pk, last_seq, first_seq, dropped, cap))


def _drop_oldest(trace_id: int, seq: int, first_seq: int, dropped: int, cap: int) -> dict[str, int]:
    """Drop the oldest logs in steps of 1% of the cap, the oldest kept one becoming a marker."""
    step = max(1, cap // 100)
    new_first = seq - (cap - step) + 1
    # everything below new_first goes and new_first itself becomes the marker; an earlier
    # marker (at first_seq) was no log of the device
    removed = new_first - first_seq + 1 - (1 if dropped else 0)
    total = dropped + removed
    TraceLog.objects.filter(trace_id=trace_id, seq__lt=new_first).delete()
    TraceLog.objects.filter(trace_id=trace_id, seq=new_first).update(
        direction="", method="trace.dropped", outcome=Outcome.DROPPED, code=None, payload=None,
        message=f"{total:,} older log{'s' if total != 1 else ''} dropped: a trace keeps at most {cap:,} logs.")
    return {"first_seq": new_first, "dropped": total}


# --- sweeps ---------------------------------------------------------------------------------------

def close_expired_traces(at: datetime | None = None) -> int:
    """Close every open trace past its expiry (stopped_at = expires_at); returns how many."""
    at = at or now()
    closed = 0
    while True:
        batch = list(MessageTrace.objects.open().filter(expires_at__lte=at)
                     .select_related("device", "ou", "started_by")[:500])
        if not batch:
            return closed
        for trace in batch:
            with transaction.atomic():
                closed += _close(SYSTEM, trace, trace.expires_at, StopReason.EXPIRED)


def end_device_traces(device_ids: Iterable[int], reason: StopReason) -> int:
    """End the open traces of devices that were deleted or migrated, and make their pages re-check access."""
    device_ids = list(device_ids)
    at = now()
    ended = 0
    with transaction.atomic():
        traces = MessageTrace.objects.open().filter(device_id__in=device_ids).select_related("device", "ou",
                                                                                            "started_by")
        for trace in traces:
            if trace.expires_at <= at:
                ended += _close(SYSTEM, trace, trace.expires_at, StopReason.EXPIRED)
            else:
                ended += _close(SYSTEM, trace, at, reason)

        def recheck() -> None:
            for device_id in device_ids:
                publish(device_group(device_id), {"type": "access.check"})

        transaction.on_commit(recheck)
    return ended


def purge_ended_traces(at: datetime | None = None) -> int:
    """Delete traces (and their logs) ended longer ago than the retention; returns how many."""
    cutoff = (at or now()) - retention()
    purged = 0
    while True:
        ids = list(MessageTrace.objects.filter(stopped_at__lt=cutoff).values_list("pk", flat=True)[:100])
        if not ids:
            return purged
        with transaction.atomic():
            TraceLog.objects.filter(trace_id__in=ids).delete()
            purged += MessageTrace.objects.filter(pk__in=ids).delete()[1].get(MessageTrace._meta.label, 0)
