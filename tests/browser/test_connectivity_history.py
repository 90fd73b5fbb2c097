"""The Connectivity tab in real Chromium against daphne: a simulated device connects and disconnects;
the tab shows its closed session, then (connected again) an open one and an online band, with no
policy violation (the timeline is SVG styled from a static stylesheet)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from connectivity.models import ConnectionRecord
from connectivity.simulator import SimulatedDevice, Triple
from tests.processes import daphne_server
from tests.waiting import wait_for

from .conftest import log_in_as
from .test_content_security_policy import violations  # noqa: F401 - the fixture

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_connectivity_tab_shows_a_simulated_devices_sessions_and_band(page: Page, violations,  # noqa: F811
                                                                          on_device, viewer, device):
    triple = Triple(device.product.product_key, device.device_key, device.device_secret)

    with daphne_server() as base:
        url = base.replace("http://", "ws://") + "/ws/device/"
        log_in_as(page, base, viewer)
        tab = f"{base}/devices/{device.asset_id}/connectivity/"
        page.goto(tab)
        expect(page.locator("#sessions tbody")).to_contain_text("No sessions yet.")

        first = SimulatedDevice(triple, url=url)
        on_device(first.connect())
        on_device(first.close())
        wait_for(lambda: ConnectionRecord.objects.filter(device=device, ended_at__isnull=False).exists())
        page.goto(tab)
        expect(page.locator("#sessions tbody tr.session")).to_have_count(1)
        expect(page.locator("#sessions tbody tr.session").first).to_contain_text("Closed by the device")
        expect(page.locator("#sessions tbody tr.session").first).to_contain_text("Websocket")

        second = SimulatedDevice(triple, url=url)
        on_device(second.connect())
        page.goto(tab)
        expect(page.locator("#sessions tbody tr.session")).to_have_count(2)
        expect(page.locator("#sessions tbody tr.session.open")).to_contain_text("Online")
        expect(page.locator("svg.timeline rect.online-band").first).to_be_attached()
        # the band is drawn in the stylesheet's green, not the offline grey behind it
        fill = page.locator("svg.timeline rect.online-band").last.evaluate("e => getComputedStyle(e).fill")
        assert fill not in ("", "none", "rgb(0, 0, 0)"), fill
        expect(page.locator("[data-period=day] b")).to_contain_text("%")

        page.click(".period-switch a:has-text('Last week')")
        expect(page.locator(".period-switch a[aria-current=page]")).to_have_text("Last week")
        on_device(second.close())
    assert violations == [], "\n".join(violations)
