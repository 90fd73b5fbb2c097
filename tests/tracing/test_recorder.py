"""The per-message hook: untraced traffic costs no query; the traced set follows a shared version stamp."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils.timezone import now

from tracing import services
from tracing import writer as writer_module
from tracing.active import ActiveTraces, active_traces, active_version
from tracing.conf import cache_alias
from tracing.models import MessageTrace, TraceLog

from .conftest import send

pytestmark = pytest.mark.django_db


def test_untraced_messages_make_no_query(django_assert_num_queries, device, gateway, trace):
    send(gateway)  # loads the set once
    with django_assert_num_queries(0):
        for _ in range(1000):
            send(gateway)


def test_a_traced_message_is_one_short_transaction(device, trace):
    send(device)
    with CaptureQueriesContext(connection) as queries:
        send(device)
    # PostgreSQL: BEGIN, SET LOCAL, one INSERT … FROM (UPDATE … RETURNING), COMMIT;
    # elsewhere: lock the trace row, insert the log, advance the counter
    assert len(queries.captured_queries) <= 5
    assert TraceLog.objects.filter(trace=trace).count() == 2


def test_an_expired_trace_is_skipped_in_python_without_a_query(django_assert_num_queries, device, trace):
    MessageTrace.objects.filter(pk=trace.pk).update(expires_at=now() - timedelta(seconds=1))
    active_traces.invalidate()
    send(device)  # reload: the set holds only traces not yet expired
    with django_assert_num_queries(0):
        send(device)
    assert not TraceLog.objects.exists()


def test_the_set_is_reloaded_only_when_the_version_stamp_changes(django_assert_num_queries, writer, device):
    traced = ActiveTraces(check_interval=0)  # re-read the stamp on every lookup
    assert traced.get(device.pk) is None
    with django_assert_num_queries(0):
        assert traced.get(device.pk) is None  # same stamp: no reload
    trace = MessageTrace.objects.create(ou=device.ou, device=device, started_by=writer,
                                        expires_at=now() + timedelta(hours=1))
    with django_assert_num_queries(0):
        assert traced.get(device.pk) is None  # another process started it but has not bumped yet
    caches[cache_alias()].set(active_version.key(), "bumped by another process", None)
    with django_assert_num_queries(1):
        entry = traced.get(device.pk)
    assert entry.trace_id == trace.pk and entry.expires_ts == trace.expires_at.timestamp()


def test_the_stamp_is_read_at_most_once_per_interval(device, trace):
    traced = ActiveTraces(check_interval=60)
    assert traced.get(device.pk) is not None
    caches[cache_alias()].set(active_version.key(), "changed", None)
    MessageTrace.objects.filter(pk=trace.pk).delete()
    assert traced.get(device.pk) is not None  # not looked at again within the interval


def test_starting_and_stopping_bump_the_stamp_after_commit(django_capture_on_commit_callbacks, writer, device):
    cache = caches[cache_alias()]
    cache.set(active_version.key(), "before", None)
    with django_capture_on_commit_callbacks(execute=True):
        trace = services.start_trace(writer, device, timedelta(minutes=5))
    started = cache.get(active_version.key())
    assert started != "before"
    with django_capture_on_commit_callbacks(execute=True):
        services.stop_trace(writer, trace)
    assert cache.get(active_version.key()) not in {"before", started}


def test_a_trace_started_elsewhere_loses_no_message_to_a_stale_set(writer, device, trace):
    send(device)
    # another process stops this trace and starts a new one; this process's set still names the old one
    MessageTrace.objects.filter(pk=trace.pk).update(stopped_at=now(), stop_reason="stopped")
    newer = MessageTrace.objects.create(ou=device.ou, device=device, expires_at=now() + timedelta(hours=1))
    send(device)
    assert list(TraceLog.objects.values_list("trace_id", "seq")) == [(trace.pk, 1), (newer.pk, 1)]


def test_a_failing_write_never_reaches_the_device(monkeypatch, device, trace, caplog):
    def broken(*args, **kwargs):
        raise RuntimeError("database on fire")

    monkeypatch.setattr(writer_module, "write_logs", broken)
    send(device)  # no exception
    assert "Trace log of device" in caplog.text
