"""The OU's Connectivity page in real Chromium: reached from the navigation, it draws the devices online as
an SVG area (styled from the static stylesheet, no policy violation), offers the counts as a table, lists
the most flapping devices with links to their Connectivity tab, and narrows to one product."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils.timezone import now
from playwright.sync_api import Page, expect

from assets.models import Device, Product
from connectivity import rollup
from connectivity.models import ConnectionRecord

from .conftest import log_in
from .test_content_security_policy import violations  # noqa: F401 - the fixture

pytestmark = pytest.mark.browser


@pytest.fixture
def history(device, product, thing_model, acme) -> Device:
    other = Product.objects.create(ou=acme, name="Weather station", model=thing_model)
    station = Device.objects.create(ou=acme, product=other, device_key="station-0001", name="Station 1",
                                    attributes={"serial": "W1"})
    at = now()
    records = [ConnectionRecord(device=device, ou=acme, session_id=f"d{i}", transport="websocket",
                                started_at=at - dt.timedelta(minutes=50 * i + 100),
                                ended_at=at - dt.timedelta(minutes=50 * i + 70)) for i in range(12)]
    records.append(ConnectionRecord(device=station, ou=acme, session_id="w", transport="mqtt",
                                    started_at=at - dt.timedelta(hours=20)))
    ConnectionRecord.objects.bulk_create(records)
    rollup.roll_up_hours(at - dt.timedelta(days=2), at)
    rollup.rank_flapping(at)
    return station


def test_the_ou_page_charts_the_devices_online_and_lists_the_flapping_ones(page: Page, live_server, violations,  # noqa: F811
                                                                          history, device, product, writer):
    log_in(page, live_server.url, "writer")
    page.click("#ou-connectivity-link")
    expect(page.locator("main h1")).to_have_text("Connectivity")
    area = page.locator("svg.online path.online-area")
    expect(area).to_be_attached()
    fill = area.evaluate("e => getComputedStyle(e).fill")
    assert fill not in ("", "none", "rgb(0, 0, 0)"), fill
    expect(page.locator("#online-summary")).to_contain_text("This hour: 1 online")  # the station, still open

    rows = page.locator("#flapping-devices tr.flapping-device")
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text(device.name)
    expect(rows.first).to_contain_text("12")

    page.click("#online-table summary")
    expect(page.locator("#online-table tbody tr")).to_have_count(24)

    page.click(".period-switch a:has-text('Last week')")
    expect(page.locator(".period-switch a[aria-current=page]")).to_have_text("Last week")
    expect(page.locator("#online-table caption")).to_contain_text("per day")

    page.select_option("#chart-product", product.product_key)
    page.click("#apply-product")
    expect(page.locator("#online-chart h2")).to_contain_text(product.name)
    expect(rows).to_have_count(1)
    expect(page.locator("#online-summary")).to_contain_text("This hour: 0 online")

    rows.first.locator("a").click()
    expect(page.locator("#connectivity-timeline")).to_be_visible()
    assert page.url.endswith(f"/devices/{device.asset_id}/connectivity/?period=week")
    assert violations == [], "\n".join(violations)
