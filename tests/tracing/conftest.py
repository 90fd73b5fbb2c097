"""Tracing fixtures: a clean traced-device set per test, a running trace, and message helpers."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from tracing import services
from tracing.active import active_traces
from tracing.models import MessageTrace
from tracing.recorder import TracedMessage, record_message
from tracing.writer import writer


@pytest.fixture(autouse=True)
def fresh_traced_set():
    # ids are reused after a rolled-back test: never answer from the previous test's set
    active_traces.invalidate()
    yield
    # the writer thread's connection must not outlive the test's database
    writer.release()
    active_traces.invalidate()


@pytest.fixture
def trace(writer, device) -> MessageTrace:
    return services.start_trace(writer, device, timedelta(hours=1))


def message(device: Any, method: str = "thing.measurepoint.post", **fields: Any) -> TracedMessage:
    fields.setdefault("direction", "up")
    fields.setdefault("outcome", "ok")
    return TracedMessage(device_id=device.pk, method=method, **fields)


def send(device: Any, method: str = "thing.measurepoint.post", **fields: Any) -> None:
    """A device message, and its log written (outside a transaction it goes through the writer thread)."""
    record_message(message(device, method, **fields))
    assert writer.wait_idle(10)
