"""The trace writer: traced messages outside a transaction are queued, written in batches by one
thread per process, never making the caller wait for the database."""

from __future__ import annotations

import threading
import time

import pytest
from django.utils.timezone import now

from tracing import writer as writer_module
from tracing.active import active_traces
from tracing.models import TraceLog
from tracing.recorder import record_message
from tracing.services import build_log
from tracing.writer import TraceWriter, writer

from .conftest import message

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_burst_is_written_in_a_few_batches_in_order(device, trace):
    before = writer.batches
    for n in range(300):
        record_message(message(device, payload={"n": n}))
    assert writer.wait_idle(20)
    logs = list(TraceLog.objects.filter(trace=trace).order_by("seq").values_list("seq", "payload"))
    assert [seq for seq, _ in logs] == list(range(1, 301))
    assert [payload["n"] for _, payload in logs] == list(range(300))
    assert writer.batches - before < 50


def test_the_caller_does_not_wait_for_the_database(monkeypatch, device, trace):
    gate = threading.Event()
    real = writer_module.write_logs

    def slow_database(batch):
        gate.wait(10)
        return real(batch)

    monkeypatch.setattr(writer_module, "write_logs", slow_database)
    started = time.monotonic()
    for _ in range(5):
        record_message(message(device))
    assert time.monotonic() - started < 1.0  # the database is stuck for 10 s
    assert not TraceLog.objects.exists()
    gate.set()
    assert writer.wait_idle(10)
    assert TraceLog.objects.filter(trace=trace).count() == 5


def test_an_overloaded_writer_counts_what_it_loses(monkeypatch, device, trace):
    monkeypatch.setattr(writer_module, "MAX_QUEUE", 3)
    gate = threading.Event()
    written: list[int] = []

    def stuck_database(batch):
        gate.wait(10)
        written.append(len(batch))
        return []

    monkeypatch.setattr(writer_module, "write_logs", stuck_database)
    stuck = TraceWriter()
    entry = active_traces.get(device.pk)
    for _ in range(20):
        stuck.submit(build_log(entry, message(device), now()))
    assert stuck.lost >= 10  # at most a batch in hand and 3 queued
    gate.set()
    assert stuck.wait_idle(10)
    assert sum(written) + stuck.lost == 20
    stuck.release()
