"""The seed page's Device Assets steps in real Chromium: filter, disable/enable, reveal the triple,
add and remove a sub-device."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def fleet(cast, product, gateway):
    devices = [Device.objects.create(ou=product.ou, product=product, device_key=f"inv-{i:03d}",
                                     name=f"Inverter {i:03d}", attributes={"serial": f"S{i}"}) for i in range(30)]
    return {"devices": devices, "gateway": gateway}


def test_device_assets_flow(page: Page, live_server, fleet, writer):
    base = live_server.url
    counted: list[str] = []
    page.on("request", lambda request: counted.append(request.url) if "/devices/counts/" in request.url else None)
    log_in(page, base, "writer")
    # the rows come with the page, the counts right after in their own request
    expect(page.locator("#status-summary")).to_contain_text("31")
    expect(page.locator("#matching")).to_have_text("31 devices match.")
    assert len(counted) == 1

    # paging keeps the counts: no new count request
    page.click("a[rel=next]")
    expect(page.locator("table.devices tbody tr")).to_have_count(11)
    page.click("a[rel=prev]")
    expect(page.locator("table.devices tbody tr")).to_have_count(20)
    expect(page.locator("#matching")).to_have_text("31 devices match.")
    assert len(counted) == 1

    # filter the table by search: rows and the match count follow
    page.fill("#id_q", "inv-007")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    expect(page.locator("#matching")).to_have_text("1 device matches.")
    expect(page.locator("#status-summary")).to_contain_text("31")
    assert "q=inv-007" in counted[-1]
    row = page.locator("tr", has_text="inv-007")
    expect(row.locator(".status")).to_have_text("Inactive")

    # switch it off: Status shows Disabled, in place; then on again
    row.locator("input[role=switch]").click()
    expect(page.locator("tr", has_text="inv-007").locator(".status")).to_have_text("Disabled")
    assert not Device.objects.get(device_key="inv-007").enabled
    page.locator("tr", has_text="inv-007").locator("input[role=switch]").click()
    expect(page.locator("tr", has_text="inv-007").locator(".status")).to_have_text("Inactive")
    assert Device.objects.get(device_key="inv-007").enabled

    # filter by status through the select
    page.fill("#id_q", "")
    page.select_option("select[name=status]", "disable")
    expect(page.locator("table.devices tbody")).to_contain_text("No devices match")
    page.select_option("select[name=status]", "")

    # details: the triple, secret masked until Reveal
    device = Device.objects.get(device_key="inv-007")
    page.goto(f"{base}/devices/{device.asset_id}/")
    expect(page.locator("#product-key")).to_have_text(device.product.product_key)
    expect(page.locator("#device-key")).to_have_text("inv-007")
    expect(page.locator("#device-secret")).not_to_contain_text(device.device_secret)
    page.click("#device-secret button:has-text('Reveal')")
    expect(page.locator("#secret-value")).to_have_text(device.device_secret)

    # gateway: add a sub-device, then remove it
    gateway = fleet["gateway"]
    page.goto(f"{base}/devices/{gateway.asset_id}/sub-devices/")
    page.click("button:has-text('New Sub-device')")
    # typed key by key as a user does: a fill() landing before htmx has wired the new input would be missed
    page.locator("#candidates input[type=search]").press_sequentially("inv-011", delay=30)
    expect(page.locator("#candidates .picklist li")).to_have_count(1)
    page.locator("#candidates .picklist input[type=checkbox]").check()
    page.click("#candidates button:has-text('OK')")
    expect(page.locator("#sub-devices")).to_contain_text("inv-011")
    assert Device.objects.get(device_key="inv-011").gateway_id == gateway.pk
    page.locator("#sub-devices tr", has_text="inv-011").locator("input[type=checkbox]").check()
    page.click("button:has-text('Remove selected')")
    expect(page.locator("#sub-devices")).not_to_contain_text("inv-011")
    assert Device.objects.get(device_key="inv-011").gateway_id is None
    page.screenshot(path="/tmp/browser-sub-devices.png")


def test_viewer_sees_the_switch_disabled(page: Page, live_server, fleet, viewer):
    log_in(page, live_server.url, "viewer")
    switch = page.locator("table.devices input[role=switch]").first
    expect(switch).to_be_disabled()
    expect(page.locator("a:has-text('New Device')")).to_have_count(0)
