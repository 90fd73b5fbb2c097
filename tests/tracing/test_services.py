"""Starting, extending and stopping traces; what a trace records, and when it records nothing."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import IntegrityError
from django.utils.timezone import now

from accounts.errors import AccessDenied, Conflict, DomainError
from accounts.models import AuditEvent
from tracing import services
from tracing.active import ActiveTrace
from tracing.models import MessageTrace, StopReason, TraceLog

from .conftest import message, send

pytestmark = pytest.mark.django_db


# --- duration bounds and access -----------------------------------------------------------------

@pytest.mark.parametrize("duration", [timedelta(minutes=1), timedelta(hours=5), timedelta(days=3)])
def test_it_starts_a_trace_for_one_minute_to_three_days(writer, device, duration):
    before = now()
    trace = services.start_trace(writer, device, duration)
    assert trace.device == device and trace.ou_id == device.ou_id and trace.started_by == writer
    assert trace.is_active
    assert before + duration <= trace.expires_at <= now() + duration


@pytest.mark.parametrize("duration", [timedelta(seconds=59), timedelta(0), timedelta(days=3, seconds=1),
                                      timedelta(days=30), timedelta(minutes=-5)])
def test_it_refuses_a_duration_outside_one_minute_to_three_days(writer, device, duration):
    with pytest.raises(DomainError) as refused:
        services.start_trace(writer, device, duration)
    assert refused.value.message == "The trace duration must be between 1 minute and 3 days."
    assert refused.value.details == {"duration": [refused.value.message]}
    assert not MessageTrace.objects.exists()


def test_a_viewer_may_not_start_a_trace(viewer, device):
    with pytest.raises(AccessDenied):
        services.start_trace(viewer, device, timedelta(minutes=10))
    assert not MessageTrace.objects.exists()


def test_an_outsider_may_not_start_a_trace(outsider, globex, device):
    with pytest.raises(AccessDenied):
        services.start_trace(outsider, device, timedelta(minutes=10))


def test_nobody_but_a_user_with_write_access_starts_or_stops_a_trace(device, trace):
    from accounts.actors import SYSTEM

    with pytest.raises(TypeError, match="needs its actor"):
        services.start_trace(None, device, timedelta(minutes=5))
    with pytest.raises(TypeError, match="needs its actor"):
        services.stop_trace(None, trace)
    with pytest.raises(AccessDenied):
        services.stop_trace(SYSTEM, trace)  # the system ends traces only by expiry, deletion or migration
    trace.refresh_from_db()
    assert trace.is_active


def test_starting_is_audited(writer, device):
    trace = services.start_trace(writer, device, timedelta(minutes=90))
    event = AuditEvent.objects.get(action="trace.start")
    assert event.actor == writer and event.ou == device.ou and event.object_id == str(trace.pk)
    assert event.after["device"] == device.asset_id and event.after["duration"] == "1 hour 30 minutes"


# --- one active trace per device ------------------------------------------------------------------

def test_starting_while_a_trace_runs_says_so_and_offers_extend_or_stop(writer, device, trace):
    with pytest.raises(Conflict) as refused:
        services.start_trace(writer, device, timedelta(minutes=5))
    assert refused.value.code == "trace_active"
    assert "already running until" in refused.value.message
    assert "Extend it or stop it" in refused.value.message
    assert MessageTrace.objects.filter(device=device).count() == 1


def test_the_database_allows_one_open_trace_per_device(trace, device):
    with pytest.raises(IntegrityError):
        MessageTrace.objects.create(ou=device.ou, device=device, expires_at=now() + timedelta(hours=1))


def test_an_expired_trace_the_sweep_missed_does_not_block_a_new_one(writer, device, trace):
    MessageTrace.objects.filter(pk=trace.pk).update(expires_at=now() - timedelta(seconds=1))
    fresh = services.start_trace(writer, device, timedelta(minutes=5))
    trace.refresh_from_db()
    assert trace.stop_reason == StopReason.EXPIRED and trace.stopped_at == trace.expires_at
    assert fresh.is_active


def test_another_device_may_be_traced_at_the_same_time(writer, device, gateway, trace):
    assert services.start_trace(writer, gateway, timedelta(minutes=5)).is_active


# --- extend and stop ----------------------------------------------------------------------------

def test_extend_adds_the_duration_to_the_expiry(writer, trace):
    old_expiry = trace.expires_at
    services.extend_trace(writer, trace, timedelta(hours=2))
    trace.refresh_from_db()
    assert trace.expires_at == old_expiry + timedelta(hours=2)
    event = AuditEvent.objects.get(action="trace.extend")
    assert event.actor == writer and event.after["by"] == "2 hours"


def test_extend_may_not_reach_beyond_three_days_from_now(writer, trace):
    with pytest.raises(DomainError) as refused:
        services.extend_trace(writer, trace, timedelta(days=3))
    assert "at most 3 days ahead" in refused.value.message and "extend by at most 2 days 23 hours" in \
        refused.value.message


def test_a_viewer_may_not_extend_or_stop(viewer, trace):
    with pytest.raises(AccessDenied):
        services.extend_trace(viewer, trace, timedelta(minutes=5))
    with pytest.raises(AccessDenied):
        services.stop_trace(viewer, trace)
    trace.refresh_from_db()
    assert trace.stopped_at is None


def test_stop_ends_the_trace_and_is_audited(writer, trace):
    services.stop_trace(writer, trace)
    trace.refresh_from_db()
    assert trace.stop_reason == StopReason.STOPPED and trace.stopped_by == writer and not trace.is_active
    assert AuditEvent.objects.filter(action="trace.stop", actor=writer, object_id=str(trace.pk)).exists()


def test_stopping_or_extending_an_ended_trace_is_a_conflict(writer, trace):
    services.stop_trace(writer, trace)
    with pytest.raises(Conflict, match="already ended"):
        services.stop_trace(writer, trace)
    with pytest.raises(Conflict, match="has ended"):
        services.extend_trace(writer, trace, timedelta(minutes=5))


# --- what is recorded ------------------------------------------------------------------------------

MESSAGES = [
    # login and activation: refused (bad sign), then accepted
    dict(method="login", direction="up", outcome="error", code=742, message="sign check failed",
         payload={"productKey": "pk", "deviceKey": "inv-0001", "sign": "abc123", "signMethod": "sha256"}),
    dict(method="login", direction="up", outcome="ok", code=200, message="activated"),
    dict(method="login", direction="up", outcome="error", code=723, message="device is disabled"),
    dict(method="offline", direction="up", outcome="ok", message="connection closed"),
    dict(method="thing.measurepoint.post", direction="up", outcome="ok", payload={"params": {"power": 4.2}}),
    dict(method="thing.measurepoint.post", direction="up", outcome="error", code=1202,
         message="temperature: 900 is above the maximum 150"),
    dict(method="thing.attribute.update", direction="up", outcome="ok"),
    dict(method="thing.event.fault.post", direction="up", outcome="ok", payload={"params": {"value": "E42"}}),
    dict(method="thing.service.restart", direction="down", outcome="ok", payload={"params": {"delay": 5}}),
    dict(method="thing.service.restart", direction="up", outcome="timeout", message="no reply within 30 s"),
    dict(method="combine.login", direction="up", outcome="error", code=740, message="sub-device not under gateway"),
]


def test_each_message_type_is_recorded_in_order_with_its_outcome(device, trace):
    for fields in MESSAGES:
        send(device, **fields)
    logs = list(TraceLog.objects.filter(trace=trace).order_by("seq"))
    assert [log.seq for log in logs] == list(range(1, len(MESSAGES) + 1))
    assert [(log.method, log.direction, log.outcome, log.code) for log in logs] == [
        (m["method"], m["direction"], m["outcome"], m.get("code")) for m in MESSAGES]
    assert logs[5].message == "temperature: 900 is above the maximum 150"
    assert logs[4].payload == {"params": {"power": 4.2}}
    trace.refresh_from_db()
    assert trace.last_seq == len(MESSAGES)


def test_secrets_and_signatures_are_never_stored(device, trace):
    send(device, "login", payload={"productKey": "pk", "deviceSecret": "S3CRET-device-secret-value",
                                   "params": {"sign": "f00dcafe" * 8, "password": "hunter2",
                                              "productSecret": "PRODUCT-SECRET", "clientId": "c1"}})
    send(device, "login", payload='{"sign": "deadbeef-sign-value", "deviceKey": "inv-0001"}')
    stored = str(list(TraceLog.objects.values_list("payload", flat=True)))
    for secret in ("S3CRET-device-secret-value", "f00dcafe", "hunter2", "PRODUCT-SECRET", "deadbeef-sign-value"):
        assert secret not in stored
    first = TraceLog.objects.get(seq=1).payload
    assert first["deviceSecret"] == "***" and first["params"]["sign"] == "***"
    assert first["params"]["clientId"] == "c1"


def test_large_payloads_are_truncated(settings, device, trace):
    settings.TRACE_PAYLOAD_LIMIT = 1000
    send(device, payload={"params": {"blob": "x" * 50_000}})
    payload = TraceLog.objects.get().payload
    assert payload["truncated"] is True and payload["size"] > 50_000
    assert len(payload["preview"].encode()) <= 1000


def test_what_a_database_cannot_hold_is_cleaned_not_fatal(device, trace):
    send(device, "thing.\x00post", message="bad\x00byte", code=2**40,
         payload={"k\x00": "v\x00", "nan": float("nan"), "raw": b"\xff\x00bytes"})
    send(device)  # and the trace goes on
    first = TraceLog.objects.get(seq=1)
    assert first.method == "thing.post" and first.message == "badbyte" and first.code is None
    assert first.payload == {"k": "v", "nan": "nan", "raw": "\ufffdbytes"}
    assert TraceLog.objects.count() == 2


def test_untraced_devices_record_nothing(device, gateway, trace):
    send(gateway)
    assert not TraceLog.objects.exists()


def test_nothing_is_recorded_after_expiry_with_no_worker_running(device, trace):
    send(device)
    # time passes beyond the end; no sweep has closed the trace
    MessageTrace.objects.filter(pk=trace.pk).update(expires_at=now() - timedelta(milliseconds=1))
    send(device)  # this process still believes the old expiry: the write itself refuses
    trace.refresh_from_db()
    assert trace.stopped_at is None
    assert list(TraceLog.objects.values_list("seq", flat=True)) == [1]


def test_the_expiry_is_judged_by_the_messages_time(device, trace):
    entry = ActiveTrace(trace.pk, device.pk, trace.expires_at.timestamp())
    assert services.record(entry, message(device), trace.expires_at - timedelta(microseconds=1)) is not None
    assert services.record(entry, message(device), trace.expires_at) is None
    assert services.record(entry, message(device), trace.expires_at + timedelta(days=1)) is None
    assert TraceLog.objects.count() == 1


def test_a_stopped_trace_records_nothing(writer, device, trace):
    services.stop_trace(writer, trace)
    send(device)
    assert not TraceLog.objects.exists()


def test_the_cap_drops_the_oldest_logs_behind_a_marker(settings, device, trace):
    settings.TRACE_MAX_LOGS = 10
    for n in range(1, 26):
        send(device, payload={"n": n})
    trace.refresh_from_db()
    logs = list(TraceLog.objects.filter(trace=trace).order_by("seq"))
    assert len(logs) <= 10
    marker, kept = logs[0], logs[1:]
    assert marker.method == "trace.dropped" and marker.outcome == "dropped"
    assert [log.payload["n"] for log in kept] == list(range(25 - len(kept) + 1, 26))
    assert trace.dropped == 25 - len(kept)
    assert marker.message == f"{trace.dropped} older logs dropped: a trace keeps at most 10 logs."
    assert trace.last_seq == 25 and trace.first_seq == marker.seq


def test_log_fields_are_cut_to_their_columns(device, trace):
    send(device, "m" * 300, message="x" * 2000, direction="sideways", outcome="weird")
    log = TraceLog.objects.get()
    assert len(log.method) == 128 and len(log.message) == 500
    assert log.direction == "" and log.outcome == "error"


# --- sweeps --------------------------------------------------------------------------------------

def test_the_sweep_closes_expired_traces_at_their_expiry(writer, device, gateway, trace):
    other = services.start_trace(writer, gateway, timedelta(hours=1))
    MessageTrace.objects.filter(pk=trace.pk).update(expires_at=now() - timedelta(minutes=1))
    assert services.close_expired_traces() == 1
    assert services.close_expired_traces() == 0  # idempotent
    trace.refresh_from_db()
    other.refresh_from_db()
    assert trace.stop_reason == StopReason.EXPIRED and trace.stopped_at == trace.expires_at
    assert other.is_active
    assert AuditEvent.objects.filter(action="trace.expire", object_id=str(trace.pk), actor=None).count() == 1


def test_the_purge_deletes_traces_ended_longer_ago_than_the_retention(settings, writer, device, gateway, trace):
    settings.TRACE_RETENTION_DAYS = 7
    send(device)
    services.stop_trace(writer, trace)
    recent = services.start_trace(writer, gateway, timedelta(hours=1))
    services.stop_trace(writer, recent)
    MessageTrace.objects.filter(pk=trace.pk).update(stopped_at=now() - timedelta(days=7, minutes=1))
    assert services.purge_ended_traces() == 1
    assert list(MessageTrace.objects.values_list("pk", flat=True)) == [recent.pk]
    assert not TraceLog.objects.exists()
