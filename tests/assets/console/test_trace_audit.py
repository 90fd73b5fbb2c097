"""The audit trail names the traced device the same way at a trace's start and its end (trace.stop read
"Trace of device 108", a database id, where trace.start named the device)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils.timezone import now

from accounts.models import AuditEvent
from tracing import services
from tracing.active import active_traces

NAMED = "Trace of Inverter 1 (inv-0001)"


@pytest.fixture(autouse=True)
def fresh_traced_set():
    active_traces.invalidate()  # ids are reused after a rolled-back test
    yield
    active_traces.invalidate()


def subjects(trace) -> dict[str, str]:
    events = AuditEvent.objects.filter(object_id=str(trace.pk), action__startswith="trace.")
    return dict(events.values_list("action", "object_repr"))


def test_a_stopped_trace_names_its_device_as_its_start_did(writer, device):
    trace = services.start_trace(writer, device, timedelta(hours=1))
    services.stop_trace(writer, trace)
    assert subjects(trace) == {"trace.start": NAMED, "trace.stop": NAMED}


def test_an_expired_trace_names_its_device_too(writer, device):
    trace = services.start_trace(writer, device, timedelta(minutes=1))
    assert services.close_expired_traces(now() + timedelta(minutes=2)) == 1
    assert subjects(trace) == {"trace.start": NAMED, "trace.expire": NAMED}
