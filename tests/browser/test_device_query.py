"""The device query language in real Chromium: a query typed in the search box filters the table and its
count; a bad one shows the error pointing at the token, and the other filters keep applying."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


@pytest.fixture
def fleet(cast, product):
    for i in range(6):
        Device.objects.create(ou=product.ou, product=product, device_key=f"inv-{i:03d}", name=f"Inverter {i}",
                              attributes={"serial": f"S{i}", "capacity": 100.0 * i},
                              tags={"site": "suzhou" if i % 2 else "shanghai"}, enabled=i != 5)


def test_a_typed_query_filters_the_table_and_a_bad_one_is_explained(page: Page, live_server, fleet, writer):
    log_in(page, live_server.url, "writer")
    expect(page.locator("#matching")).to_have_text("6 devices match.")

    page.locator("#id_q").press_sequentially("tag:site=suzhou AND attr:capacity>=300", delay=10)
    expect(page.locator("table.devices tbody tr")).to_have_count(2)  # inv-003, inv-005
    expect(page.locator("table.devices tbody")).to_contain_text("inv-003")
    expect(page.locator("#matching")).to_have_text("2 devices match.")
    expect(page.locator("#filter-problems")).to_have_count(0)

    page.fill("#id_q", "tag:site=suzhou NOT status:disabled")
    expect(page.locator("table.devices tbody tr")).to_have_count(2)  # inv-001, inv-003

    # a bad query: the message names the token and its column; the status select still applies
    page.select_option("select[name=status]", "disable")
    page.fill("#id_q", "stat:offline")
    expect(page.locator("#filter-problems")).to_contain_text('Unknown field "stat" at column 1')
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    expect(page.locator("table.devices tbody")).to_contain_text("inv-005")
    expect(page.locator("#id_q")).to_have_value("stat:offline")
