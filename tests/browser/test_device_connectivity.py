"""The issue's "done when", in real Chromium against daphne: a simulated device is seen going
Inactive → Online, its data shows on the details page, it answers a command issued from the
Services tab, disabling it from the Device Assets table kicks it (then 723), and it ends Disabled."""

from __future__ import annotations

import asyncio

import pytest
from playwright.sync_api import Page, expect

from assets.models import Device
from connectivity import protocol as p
from connectivity.models import LatestValue
from connectivity.simulator import LoginFailed, SimulatedDevice, Triple
from tests.processes import daphne_server
from tests.waiting import wait_for

from .conftest import log_in_as

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_watching_a_simulated_device_from_the_console(page: Page, on_device, writer, device):
    triple = Triple(device.product.product_key, device.device_key, device.device_secret)

    with daphne_server(CONNECTIVITY_LATEST_FLUSH_SECONDS="0.1") as base:
        url = base.replace("http://", "ws://") + "/ws/device/"
        log_in_as(page, base, writer)
        details = f"{base}/devices/{device.asset_id}/"
        page.goto(details)
        expect(page.locator("h1 .status")).to_have_text("Inactive")

        simulated = SimulatedDevice(triple, url=url, values=lambda: {"power": 42.5, "running": True})
        on_device(simulated.connect())
        assert on_device(simulated.report())["code"] == p.SUCCESS
        wait_for(lambda: LatestValue.objects.filter(device=device, identifier="power").exists())
        page.goto(details)
        expect(page.locator("h1 .status")).to_have_text("Online")
        expect(page.locator("#latest-data [data-point=power] .value")).to_contain_text("42.5 kW")

        page.click("nav.tabs a:has-text('Services')")
        page.fill("input[name=restart-delay]", "3")
        page.click("#service-restart button:has-text('Invoke')")
        # htmx posts the form: the outcome shows under the service, the table of recent commands refreshes
        expect(page.locator("#result-restart")).to_contain_text("Succeeded")
        expect(page.locator("#invocations tbody tr").first).to_contain_text("{'delay': 3}")
        assert on_device(simulated.commands.get())["params"] == {"delay": 3}

        page.goto(f"{base}/devices/")
        page.locator(f"#device-{device.asset_id} .switch").click()
        on_device(asyncio.wait_for(simulated.closed.wait(), 10))
        with pytest.raises(LoginFailed) as refused:
            on_device(SimulatedDevice(triple, url=url).connect())
        assert refused.value.code == p.DEVICE_DISABLED
        page.goto(details)
        expect(page.locator("h1 .status")).to_have_text("Disabled")
    device = Device.objects.get(pk=device.pk)
    assert device.online is False and device.activated_at is not None
