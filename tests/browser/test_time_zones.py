"""Every time in the user's time zone, the zone named, in real Chromium: a browser in Asia/Shanghai sees
+08:00 times without setting anything (its first page rewritten by portal/times.js, the next ones rendered
so by the server from the tz cookie); a profile setting of America/New_York then wins over the browser."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect

from assets.models import Device
from tests.browser.conftest import log_in_as
from tracing import services
from tracing.models import MessageTrace, StopReason

pytestmark = pytest.mark.browser

BROWSER_ZONE = "Asia/Shanghai"
LAST_ONLINE = datetime(2026, 12, 5, 15, 25, 7, tzinfo=UTC)
TRACE_STARTED = datetime(2026, 12, 4, 1, 2, 3, tzinfo=UTC)


@pytest.fixture
def shanghai_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 900}, timezone_id=BROWSER_ZONE)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture
def seen_device(writer, device) -> Device:
    Device.objects.filter(pk=device.pk).update(activated_at=LAST_ONLINE - timedelta(days=1),
                                               last_online_at=LAST_ONLINE)
    trace = services.start_trace(writer, device, timedelta(hours=1))
    MessageTrace.objects.filter(pk=trace.pk).update(started_at=TRACE_STARTED,
                                                    expires_at=TRACE_STARTED + timedelta(hours=1),
                                                    stopped_at=TRACE_STARTED + timedelta(minutes=30),
                                                    stop_reason=StopReason.STOPPED)
    return device


def expect_times(page: Page, base: str, device: Device, zone: str, last_online: str, trace_started: str,
                 offset: str) -> None:
    """The device list, the details and the tracing tab show the device's times in `zone`, named."""
    title = f"{zone} (UTC{offset})"
    page.goto(base + reverse("assets:device-list"))
    last_online_cell = page.locator(f"#device-{device.asset_id} time").first
    expect(last_online_cell).to_have_text(last_online)
    expect(last_online_cell).to_have_attribute("title", title)
    expect(page.locator("table.devices thead")).to_contain_text(f"Last online ({zone})")

    page.goto(base + reverse("assets:device-detail", args=[device.asset_id]))
    shown = page.locator("dd time").filter(has_text=last_online)
    expect(shown).to_have_text(f"{last_online} {zone}")
    expect(shown).to_have_attribute("title", title)

    page.goto(base + reverse("tracing:device-tracing", args=[device.asset_id]))
    past = page.locator("#past-traces")
    expect(past.locator("thead")).to_contain_text(f"Started ({zone})")
    expect(past.locator("tbody time").first).to_have_text(trace_started)
    expect(past.locator("tbody time").first).to_have_attribute("title", title)


def test_times_follow_the_browser_then_the_profile(shanghai_page: Page, live_server, writer, seen_device):
    page, base = shanghai_page, live_server.url
    log_in_as(page, base, writer)
    # the very first page: rendered in UTC (no tz cookie yet), rewritten in the browser's zone at once
    page.goto(base + reverse("assets:device-list"))
    expect(page.locator("body")).to_have_attribute("data-time-zone", "UTC")
    expect(page.locator(f"#device-{seen_device.asset_id} time").first).to_have_text("2026-12-05 23:25:07")
    # the next ones: the server knows the browser's zone
    expect_times(page, base, seen_device, BROWSER_ZONE, "2026-12-05 23:25:07", "2026-12-04 09:02:03", "+08:00")
    expect(page.locator("body")).to_have_attribute("data-time-zone-source", "browser")

    # the profile: the browser's zone is the default; New York chosen there beats it
    page.click("#profile-link")
    select = page.locator("select[name=time_zone]")
    expect(select.locator("option").first).to_have_text(f"Browser default (currently: {BROWSER_ZONE})")
    select.select_option("America/New_York")
    page.click("#profile-form button[type=submit]")
    expect(page.locator(".message.success")).to_have_text("Your profile is saved.")
    expect(page.locator("#active-zone")).to_contain_text("America/New_York")
    writer.refresh_from_db()
    assert writer.time_zone == "America/New_York"
    expect_times(page, base, seen_device, "America/New_York", "2026-12-05 10:25:07", "2026-12-03 20:02:03",
                 "-05:00")
    expect(page.locator("body")).to_have_attribute("data-time-zone-source", "profile")

    # back to the browser's zone
    page.click("#profile-link")
    page.locator("select[name=time_zone]").select_option("")
    page.click("#profile-form button[type=submit]")
    expect(page.locator("#active-zone")).to_contain_text(BROWSER_ZONE)
    expect_times(page, base, seen_device, BROWSER_ZONE, "2026-12-05 23:25:07", "2026-12-04 09:02:03", "+08:00")
