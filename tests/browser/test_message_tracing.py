"""The seed page's Message Tracing steps in real Chromium against daphne (websockets) and Redis:
start a 1-minute trace; a simulated device logs in with a bad sign then a good one, reports data
and answers a command; each log shows live, newest on top; Clear empties the view; a reload shows
the history; Stop ends the trace. Then the live view's own controls, at a phone's width and a desktop's:
the live/disconnected indicator, "waiting for messages", the method/outcome filter, pause, the times in
the browser's zone, and the start/extend dialogs leaving Clear and the table's header uncovered."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from playwright.sync_api import Browser, Locator, Page, expect

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


# --- the live view's controls -----------------------------------------------------------------------

ZONE = "Asia/Shanghai"  # the browser's zone (UTC+8): the page shows its times in it, named


@pytest.fixture(params=[360, 1400], ids=["phone", "desktop"])
def sized_page(browser: Browser, request) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": request.param, "height": 800}, timezone_id=ZONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def policy_violations(sized_page: Page) -> list[str]:
    """What the browser reports the Content-Security-Policy blocked (an inline style or script …)."""
    found: list[str] = []
    sized_page.on("console", lambda message: found.append(message.text)
                  if "Content Security Policy" in message.text else None)
    return found


def recorder(on_device: Callable[..., Any], device) -> Callable[..., None]:
    """Records a device message in this process (the writer thread); Redis carries its push to daphne."""
    def record(method: str, outcome: str = "ok", **fields: Any) -> None:
        def run() -> None:
            try:
                forget_traced_devices()
                record_message(TracedMessage(device.pk, "up", method, outcome, **fields))
                assert trace_writer.wait_idle(10)
            finally:
                connection.close()

        on_device(asyncio.to_thread(run))

    return record


def uncovered(locator: Locator) -> bool:
    """Whether what the user sees at the element's centre is the element (no dialog lies over it)."""
    locator.scroll_into_view_if_needed()
    return locator.evaluate("""element => {
        const box = element.getBoundingClientRect();
        return element.contains(document.elementFromPoint(box.left + box.width / 2, box.top + box.height / 2));
    }""")


def test_the_live_views_controls(sized_page: Page, policy_violations, redis_everywhere, on_device, writer, device):
    page = sized_page
    trace = services.start_trace(writer, device, timedelta(hours=1))
    record = recorder(on_device, device)
    panel, live = page.locator("#trace-panel"), page.locator("#trace-live")
    visible_rows = page.locator("#trace-rows tr:visible")

    with daphne_server(REDIS_URL=redis_everywhere, TRACE_SYNC_SECONDS="0.5") as base:
        log_in_as(page, base, writer)
        page.goto(f"{base}/devices/{device.asset_id}/tracing/")

        # live, and waiting for the first message
        expect(panel).to_have_attribute("data-live", "open")
        expect(live.locator("[data-live-when=open]")).to_be_visible()
        expect(live.locator("[data-live-when=reconnecting]")).to_be_hidden()
        expect(page.locator("#trace-empty")).to_have_text("Waiting for messages…", use_inner_text=True)

        # every time in the browser's zone, the zone named
        expect(page.locator("#trace-logs th").first).to_have_text(f"Time ({ZONE})")
        local_expiry = trace.expires_at.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S")
        expect(page.locator("#trace-status")).to_contain_text(f"records until {local_expiry} {ZONE}.")

        record("thing.measurepoint.post", payload={"n": 1})
        record("login", "error", code=742, message="sign check failed")
        expect(rows(page)).to_have_count(2)
        expect(page.locator("#trace-empty")).to_have_text("", use_inner_text=True)
        login = TraceLog.objects.get(trace=trace, seq=2)
        shown = login.time.astimezone(ZoneInfo(ZONE)).strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
        expect(rows(page).first.locator("time")).to_have_text(shown)

        # the filter: by method (part of it), by outcome; new logs are filtered as they come
        page.fill("#trace-filter input[name=method]", "measure")
        expect(visible_rows).to_have_count(1)
        expect(visible_rows.first).to_contain_text("thing.measurepoint.post")
        page.select_option("#trace-filter select[name=outcome]", "error")
        expect(visible_rows).to_have_count(0)
        expect(page.locator("#trace-empty")).to_have_text("No logs in view match the filter.", use_inner_text=True)
        page.fill("#trace-filter input[name=method]", "")
        expect(visible_rows).to_have_count(1)
        expect(visible_rows.first).to_contain_text("742")
        record("thing.attribute.update")
        expect(rows(page)).to_have_count(3)
        expect(visible_rows).to_have_count(1)
        page.select_option("#trace-filter select[name=outcome]", "")
        expect(visible_rows).to_have_count(3)

        # pause holds what comes (and counts it); resume shows it on top, in order
        page.click("#pause-logs")
        expect(page.locator("#pause-logs")).to_have_attribute("aria-pressed", "true")
        record("thing.event.fault.post")
        record("thing.measurepoint.post", payload={"n": 2})
        expect(page.locator("#held-count")).to_have_text("2")
        expect(page.locator("#pause-logs")).to_have_text("Resume (2 new)", use_inner_text=True)
        expect(rows(page)).to_have_count(3)
        page.click("#pause-logs")
        expect(rows(page)).to_have_count(5)
        seqs = [int(s) for s in rows(page).evaluate_all("rows => rows.map(r => r.dataset.seq)")]
        assert seqs == [5, 4, 3, 2, 1]
        expect(page.locator("#pause-logs")).to_have_text("Pause", use_inner_text=True)

        # the extend dialog opens in the flow: Clear and the table's header stay uncovered and usable
        page.click("#extend-trace summary")
        expect(page.locator("#extend-trace form")).to_be_visible()
        assert uncovered(page.locator("#clear-logs"))
        assert uncovered(page.locator("#trace-logs th").first)
        assert page.locator("#trace-panel").evaluate("panel => panel.scrollWidth <= panel.clientWidth")
        page.click("#clear-logs")
        expect(rows(page)).to_have_count(0)
        expect(page.locator("#trace-empty")).to_have_text("Waiting for messages…", use_inner_text=True)
        assert policy_violations == []

    # the server is gone: the page says it is disconnected (and keeps trying)
    expect(panel).to_have_attribute("data-live", "reconnecting")
    expect(live.locator("[data-live-when=reconnecting]")).to_be_visible()
    expect(live.locator("[data-live-when=open]")).to_be_hidden()
    expect(live).to_contain_text("Disconnected", use_inner_text=True)


def test_a_page_whose_user_lost_access_says_so_and_stops(page: Page, redis_everywhere, writer, viewer, acme, device):
    from accounts.models import Membership
    from accounts.services import remove_membership

    services.start_trace(writer, device, timedelta(hours=1))
    membership = Membership.objects.select_related("ou__owner").get(user=viewer, ou=acme)
    with daphne_server(REDIS_URL=redis_everywhere) as base:
        log_in_as(page, base, viewer)
        page.goto(f"{base}/devices/{device.asset_id}/tracing/")
        expect(page.locator("#trace-panel")).to_have_attribute("data-live", "open")
        remove_membership(membership.ou.owner, membership)
        expect(page.locator("#trace-status")).to_have_text("You no longer have access to this device.")
        expect(page.locator("#trace-panel")).to_have_attribute("data-live", "closed")
        expect(page.locator("#trace-live [data-live-when=closed]")).to_be_visible()
        expect(page.locator("#trace-socket")).to_have_count(0)  # no reconnecting
