"""The OU's audit log in real Chromium: an OU admin disables a device, opens the Audit log from the header,
filters by action, sees the event with its change, and exports the filtered events as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.browser.conftest import log_in_as
from tests.browser.test_accessibility import assert_accessible

pytestmark = pytest.mark.browser


def test_an_ou_admin_finds_their_change_and_exports_it(page: Page, live_server, owner, device, gateway):
    base = live_server.url
    log_in_as(page, base, owner)
    page.goto(base + reverse("assets:device-list"))
    row = page.locator(f"#device-{device.asset_id}")
    row.locator("input[role=switch]").click()
    expect(page.locator(f"#device-{device.asset_id} .status")).to_have_text("Disabled")
    assert not Device.objects.get(pk=device.pk).enabled

    page.locator("#audit-log-link").click()
    page.wait_for_url(f"{base}{reverse('observability:audit-log')}")
    expect(page.locator("h1")).to_have_text("Audit log")
    page.select_option("#filter-action", "device.disable")
    page.locator("#apply-filters").click()
    page.wait_for_url("**/audit-log/?*action=device.disable*")
    rows = page.locator("#audit-events tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Device disabled")
    expect(rows.first).to_contain_text("owner")
    expect(rows.first).to_contain_text("enabled: true → false")
    expect(rows.first.locator("time")).to_be_visible()
    expect(rows.first.get_by_role("link", name=device.name)).to_have_attribute(
        "href", reverse("assets:device-detail", args=[device.asset_id]))
    found: dict[str, str] = {}
    assert_accessible(page, "audit log", found)
    assert not found, found

    with page.expect_download() as download_info:
        page.locator("#export-csv").click()
    download = download_info.value
    assert download.suggested_filename.endswith(".csv")
    text = Path(download.path()).read_text(encoding="utf-8")
    records = list(csv.DictReader(io.StringIO(text)))
    assert [(r["action"], r["actor"], r["object_id"]) for r in records] == [("device.disable", "owner",
                                                                             device.asset_id)]
