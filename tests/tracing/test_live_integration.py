"""Once against real processes: daphne serving the trace socket, Redis between the processes, and a
Celery worker with beat whose sweep closes an expired trace and tells the open page."""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta

import pytest
from django.utils.timezone import now
from websockets.sync.client import connect

from tests.conftest import client_for
from tests.processes import celery_worker, daphne_server
from tracing import services
from tracing.models import MessageTrace, TraceLog

from .conftest import send

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def session_cookie(user) -> str:
    return f"sessionid={client_for(user).cookies['sessionid'].value}"


def receive(socket, kind: str, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        event = json.loads(socket.recv(timeout=max(0.01, deadline - time.monotonic())))
        if event["type"] == kind:
            return event


def test_logs_are_pushed_live_and_the_beat_sweep_closes_the_expired_trace(redis_everywhere, monkeypatch, writer,
                                                                              viewer, device):
    monkeypatch.setenv("TRACE_SWEEP_SECONDS", "1")  # the worker's beat sweeps every second
    trace = services.start_trace(writer, device, timedelta(minutes=1))
    cookie = session_cookie(viewer)
    with daphne_server() as base, celery_worker(beat=True):
        url = base.replace("http://", "ws://") + f"/ws/devices/{device.asset_id}/trace/"
        with connect(url, origin=base, additional_headers={"Cookie": cookie}, open_timeout=20) as socket:
            hello = receive(socket, "hello")
            assert hello["trace"]["id"] == trace.pk and hello["trace"]["active"]

            # a message recorded in this process reaches the page served by daphne, live
            latencies = []
            for n in range(1, 4):
                sent = time.monotonic()
                send(device, payload={"n": n})
                event = receive(socket, "logs")
                latencies.append(time.monotonic() - sent)
                assert [log["seq"] for log in event["logs"]] == [n]
            assert max(latencies) < 1.0

            # the trace reaches its end: nothing more is recorded, and the sweep tells the page
            expiry = now()
            MessageTrace.objects.filter(pk=trace.pk).update(expires_at=expiry)
            send(device, payload={"n": "too late"})
            ended = receive(socket, "ended", timeout=20)
            assert ended["trace"]["id"] == trace.pk and ended["trace"]["stopReason"] == "expired"

        trace.refresh_from_db()
        assert trace.stop_reason == "expired" and trace.stopped_at == expiry
        assert list(TraceLog.objects.filter(trace=trace).values_list("seq", flat=True)) == [1, 2, 3]

        # the download streams from daphne (the ASGI path of the JSON lines)
        request = urllib.request.Request(f"{base}/api/traces/{trace.pk}/logs.jsonl", headers={"Cookie": cookie})
        with urllib.request.urlopen(request, timeout=10) as response:
            lines = [json.loads(line) for line in response.read().decode().splitlines()]
        assert [line["payload"]["n"] for line in lines] == [1, 2, 3]
