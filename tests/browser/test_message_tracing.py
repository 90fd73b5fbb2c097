"""The seed page's Message Tracing steps in real Chromium against daphne (websockets) and Redis:
start a 1-minute trace; a simulated device logs in with a bad sign then a good one, reports data
and answers a command; each log shows live, newest on top; Clear empties the view; a reload shows
the history; Stop ends the trace."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from unittest import mock

import pytest
from django.db import connection
from playwright.sync_api import Page, expect

from connectivity import services as connectivity
from connectivity.simulator import LoginFailed, Misbehaviour, SimulatedDevice, Triple
from tests.processes import daphne_server
from tracing import services
from tracing.models import MessageTrace, TraceLog
from tracing.recorder import TracedMessage, forget_traced_devices, record_message
from tracing.writer import writer as trace_writer

from .conftest import log_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def released_trace_writer() -> Iterator[None]:
    yield
    trace_writer.release()  # its connection (the command's log was written here) must not outlive the test


def rows(page: Page):
    return page.locator("#trace-logs tbody tr")


def test_message_tracing_flow(page: Page, redis_everywhere, on_device, writer, device):
    def invoke_restart() -> None:
        try:
            connectivity.invoke_service(writer, device, "restart", {"delay": 1}, timeout=10)
        finally:
            connection.close()  # this thread's connection must not outlive the test database

    with daphne_server(REDIS_URL=redis_everywhere, TRACE_SYNC_SECONDS="0.5") as base:
        log_in_as(page, base, writer)
        page.goto(f"{base}/devices/{device.asset_id}/")
        page.click("nav.tabs a:has-text('Tracing')")
        expect(page.locator("#trace-status")).to_contain_text("No message trace is running")

        # Start Message Trace → duration → OK
        page.click("summary:has-text('Start Message Trace')")
        page.fill("#start-trace input[name=amount]", "1")
        page.select_option("#start-trace select[name=unit]", "minutes")
        page.click("#start-trace button:has-text('OK')")
        expect(page.locator("#messages")).to_contain_text("Message trace started")
        expect(page.locator("#trace-panel")).to_have_attribute("data-live", "open")
        trace = MessageTrace.objects.get(device=device)
        assert 59 <= (trace.expires_at - trace.started_at).total_seconds() <= 60

        # a device logs in with a bad sign: the refusal shows at once, with its EnOS code
        ws_url = base.replace("http://", "ws://") + "/ws/device/"
        triple = Triple(device.product.product_key, device.device_key, device.device_secret)
        with pytest.raises(LoginFailed):
            on_device(SimulatedDevice(triple, url=ws_url, misbehaviour=Misbehaviour(bad_sign=True)).connect())
        expect(rows(page)).to_have_count(1)
        expect(rows(page).first).to_contain_text("login")
        expect(rows(page).first).to_contain_text("742")
        expect(rows(page).first.locator(".outcome")).to_have_text("error")

        # then with the right secret; then a report: each on top of the previous
        simulated = SimulatedDevice(triple, url=ws_url, values=lambda: {"power": 42.5})
        on_device(simulated.connect())
        expect(rows(page)).to_have_count(2)
        expect(rows(page).first.locator(".outcome")).to_have_text("ok")
        on_device(simulated.report())
        expect(rows(page)).to_have_count(3)
        expect(rows(page).first).to_contain_text("thing.measurepoint.post")

        # a command from the console's side (this process), and the device's answer
        on_device(asyncio.to_thread(invoke_restart))
        expect(rows(page)).to_have_count(5)
        expect(rows(page).nth(0)).to_contain_text("thing.service.restart")
        expect(rows(page).nth(1)).to_contain_text("↓ down")
        seqs = [int(s) for s in rows(page).evaluate_all("rows => rows.map(r => r.dataset.seq)")]
        assert seqs == [5, 4, 3, 2, 1]
        assert "not-the-secret" not in page.content() and device.device_secret not in page.content()

        # Clear empties the display only; live logs keep coming
        page.click("#clear-logs")
        expect(rows(page)).to_have_count(0)
        on_device(simulated.report())
        expect(rows(page)).to_have_count(1)
        assert TraceLog.objects.filter(trace=trace).count() == 6

        # reopening shows the history so far, newest on top
        page.reload()
        expect(rows(page)).to_have_count(6)
        expect(rows(page).first).to_have_attribute("data-seq", "6")
        expect(page.locator("#trace-panel")).to_have_attribute("data-live", "open")

        # a push the channel layer lost: the next log reveals the gap, and the page fills it from the database
        def lost_then_delivered() -> None:
            try:
                forget_traced_devices()
                with mock.patch.object(services, "publish"):  # this log is stored but never pushed
                    record_message(TracedMessage(device.pk, "up", "thing.event.fault.post", "ok", payload={"n": 7}))
                    assert trace_writer.wait_idle(10)
                record_message(TracedMessage(device.pk, "up", "thing.attribute.update", "ok", payload={"n": 8}))
                assert trace_writer.wait_idle(10)
            finally:
                connection.close()  # the traced set was loaded on this thread's connection

        on_device(asyncio.to_thread(lost_then_delivered))
        expect(rows(page)).to_have_count(8)
        expect(page.locator("#trace-panel")).to_have_attribute("data-gaps-filled", "1")
        expect(rows(page).nth(0)).to_contain_text("thing.attribute.update")
        expect(rows(page).nth(1)).to_contain_text("thing.event.fault.post")

        # a lost push with no log after it: the socket's periodic sync tells the page the last seq
        def lost_last() -> None:
            try:
                with mock.patch.object(services, "publish"):
                    record_message(TracedMessage(device.pk, "up", "thing.event.fault.post", "ok", payload={"n": 9}))
                    assert trace_writer.wait_idle(10)
            finally:
                connection.close()

        on_device(asyncio.to_thread(lost_last))
        expect(rows(page)).to_have_count(9)
        expect(rows(page).first).to_have_attribute("data-seq", "9")
        expect(page.locator("#trace-panel")).to_have_attribute("data-gaps-filled", "2")

        # Stop Message Trace ends it for everyone
        page.click("button:has-text('Stop Message Trace')")
        expect(page.locator("#trace-status")).to_contain_text("No message trace is running")
        expect(page.locator("#past-traces")).to_contain_text("Stopped")
        trace.refresh_from_db()
        assert trace.stop_reason == "stopped" and not trace.is_active
        on_device(simulated.report())
        on_device(simulated.close())
        assert TraceLog.objects.filter(trace=trace).count() == 9
