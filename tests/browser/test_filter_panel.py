"""The filter panel in real Chromium: opened, filled and submitted, it writes the query into the search box and
the table shows what the query finds; the open panel passes axe."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import log_in
from tests.browser.test_accessibility import assert_accessible
from tests.browser.test_device_query import fleet as fleet  # noqa: F401 - the same six inverters

pytestmark = pytest.mark.browser


def test_the_panel_builds_a_query_that_filters_the_table(page: Page, live_server, fleet, writer):
    log_in(page, live_server.url, "writer")
    expect(page.locator("#matching")).to_have_text("6 devices match.")
    panel = page.locator("#filter-panel")
    expect(panel.locator("#id_fp-status")).to_be_hidden()
    panel.locator("summary").click()
    expect(panel.locator("#id_fp-status")).to_be_visible()
    found: dict[str, str] = {}
    assert_accessible(page, "the open filter panel", found)
    assert not found, found

    panel.locator("#id_fp-tag_key").fill("site")
    panel.locator("#id_fp-tag_value").fill("suzhou")
    panel.locator("#id_fp-attribute").select_option("capacity")
    panel.locator("#id_fp-attribute_op").select_option(">=")
    panel.locator("#id_fp-attribute_value").fill("300")
    panel.locator("button[type=submit]").click()

    expect(page.locator("#id_q")).to_have_value("tag:site=suzhou AND attr:capacity>=300")
    expect(page.locator("table.devices tbody tr")).to_have_count(2)  # inv-003, inv-005
    expect(page.locator("table.devices tbody")).to_contain_text("inv-003")
    expect(page.locator("#matching")).to_have_text("2 devices match.")

    # the panel again, with a status: the query it writes replaces the search
    page.locator("#filter-panel summary").click()
    page.locator("#id_fp-status").select_option("disabled")
    page.locator("#filter-panel button[type=submit]").click()
    expect(page.locator("#id_q")).to_have_value("status:disabled")
    expect(page.locator("table.devices tbody tr")).to_have_count(1)
    expect(page.locator("table.devices tbody")).to_contain_text("inv-005")


def test_a_bad_field_reopens_the_panel_with_its_error(page: Page, live_server, fleet, writer):
    log_in(page, live_server.url, "writer")
    page.locator("#filter-panel summary").click()
    page.locator("#id_fp-tag_value").fill("suzhou")
    page.locator("#filter-panel button[type=submit]").click()
    expect(page.locator("#filter-panel")).to_have_attribute("open", "")
    expect(page.locator("#filter-panel [role=alert]")).to_contain_text("Give the tag's key too.")
    expect(page.locator("table.devices tbody tr")).to_have_count(6)
