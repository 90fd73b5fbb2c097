"""Device groups in real Chromium: a dynamic group made from a query (checked live as it is typed) shows its
devices and their status counts; a static group holds two chosen devices, and one more from the device table's
selection; a device's details list both groups."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def fleet(cast, product):
    now = timezone.now()
    for i in range(6):
        Device.objects.create(ou=product.ou, product=product, device_key=f"inv-{i:03d}", name=f"Inverter {i}",
                              attributes={"serial": f"S{i}"}, tags={"site": "suzhou" if i % 2 else "shanghai"},
                              activated_at=now if i < 4 else None, online=i in (1, 2))


def test_a_dynamic_and_a_static_group_and_the_devices_groups(page: Page, live_server, fleet, writer):
    log_in(page, live_server.url, "writer")
    page.click("nav.mainnav >> text=Groups")
    expect(page.locator("#groups")).to_contain_text("No groups yet.")
    page.click("text=New Group")

    # dynamic: the query is checked while typed
    page.fill("#id_name", "Suzhou")
    page.check("input[name=kind][value=dynamic]")
    page.locator("#id_query").press_sequentially("tag:site=suzhou AND", delay=10)
    expect(page.locator("#query-check")).to_contain_text('Expected a term after "AND" at column 17')
    page.locator("#id_query").press_sequentially(" NOT status:disabled", delay=10)
    expect(page.locator("#query-check")).to_contain_text("Valid query: 3 devices match now.")
    page.click("#group-form button[type=submit]")
    expect(page.locator("#group-name")).to_have_text("Suzhou")
    expect(page.locator("#matching")).to_have_text("3 devices match.")
    expect(page.locator("#group-status-summary")).to_contain_text("3 In the group")
    expect(page.locator("table.devices tbody tr")).to_have_count(3)  # inv-001, inv-003, inv-005
    expect(page.locator("table.devices tbody")).to_contain_text("inv-005")

    # static: two devices named by deviceKey
    page.click("nav.mainnav >> text=Groups")
    page.click("text=New Group")
    page.fill("#id_name", "Picked")
    page.check("input[name=kind][value=static]")
    page.fill("#id_devices", "inv-001 inv-002")
    page.click("#group-form button[type=submit]")
    expect(page.locator("#group-name")).to_have_text("Picked")
    expect(page.locator("table.devices tbody tr")).to_have_count(2)
    expect(page.locator("#matching")).to_have_text("2 devices match.")

    # the device table's selection: one more device into Picked
    page.click("nav.mainnav >> text=Device Assets")
    page.check(f"input[name=asset_ids][value=\"{Device.objects.get(device_key='inv-003').asset_id}\"]")
    page.click("#add-to-group")
    expect(page.locator("#add-to-group-dialog")).to_contain_text("1 device selected: inv-003")
    page.select_option("#id_group", label="Picked")
    page.click("#add-to-group-form button[type=submit]")
    expect(page.locator("#group-name")).to_have_text("Picked")
    expect(page.locator("#matching")).to_have_text("3 devices match.")

    page.click("nav.mainnav >> text=Groups")
    expect(page.locator("#groups tr[data-group=Suzhou] td.count")).to_have_text("3")
    expect(page.locator("#groups tr[data-group=Picked] td.count")).to_have_text("3")

    # inv-001 is in both: the static membership and the dynamic query
    device = Device.objects.get(device_key="inv-001")
    page.goto(f"{live_server.url}/devices/{device.asset_id}/")
    expect(page.locator("#device-groups li")).to_have_count(2)
    expect(page.locator("#device-groups")).to_contain_text("Picked")
    expect(page.locator("#device-groups")).to_contain_text("Suzhou")
    page.click("#device-groups >> text=Suzhou")
    expect(page.locator("#group-query")).to_have_text("tag:site=suzhou AND NOT status:disabled")
