"""Batch Import and Update in real Chromium: download a template, fill it (openpyxl), upload it, read the
counts, export errmsg.txt and apply; then a template from an existing device for Batch Update."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_batch_import_then_update_in_the_console(page: Page, live_server, cast, product, device,
                                                 tmp_path: Path):
    base = live_server.url
    log_in(page, base, "writer")
    page.click("#batch-import")
    expect(page.locator("h1")).to_have_text("Batch Import and Update")

    # Batch Import, empty template
    page.check("input[name=operation][value=import]")
    page.select_option("#batch-product", product.product_key)
    with page.expect_download() as download:
        page.click("#template-download")
    assert download.value.suggested_filename == f"Template_{product.product_key}.xlsx"
    template = tmp_path / download.value.suggested_filename
    download.value.save_as(template)

    book = load_workbook(template)
    sheet = book["Devices"]
    sheet.append(["web-0001", "From the browser 1", "+01:00", "", "SN-W1", 10, 1, "2024-05-01", "site=web"])
    sheet.append(["web-0002", "From the browser 2", "Europe/Berlin", "", "SN-W2", "", "", "", ""])
    sheet.append(["web-0003", "Broken", "+25:00", "", "SN-W3", "", "", "", ""])
    book.save(template)

    page.set_input_files("#batch-file", str(template))
    page.screenshot(path="/tmp/browser-batch-dialog.png")
    page.click("#batch-upload")
    expect(page.locator("#count-total")).to_have_text("3")
    expect(page.locator("#count-valid")).to_have_text("2")
    expect(page.locator("#count-invalid")).to_have_text("1")
    expect(page.locator("#first-problems")).to_contain_text('Row 5, column C (Time Zone): "+25:00" is not a valid')

    with page.expect_download() as errmsg:
        page.click("#export-invalid")
    assert errmsg.value.suggested_filename == "errmsg.txt"
    assert Path(errmsg.value.path()).read_text() == 'Row 5, column C (Time Zone): "+25:00" is not a valid time zone\n'

    expect(page.locator("#apply-batch")).to_have_text("Import")
    page.click("#apply-batch")
    expect(page.locator("#count-applied")).to_have_text("2")
    expect(page.locator("#messages")).to_contain_text("2 devices imported.")
    page.screenshot(path="/tmp/browser-batch-import.png")
    imported = Device.objects.get(device_key="web-0001")
    assert (imported.name, imported.timezone, imported.tags) == ("From the browser 1", "+01:00", {"site": "web"})
    assert not Device.objects.filter(device_key="web-0003").exists()

    # Batch Update from a template generated from an existing device
    page.goto(f"{base}/devices/batch/")
    page.check("input[name=operation][value=update]")
    page.check("input[name=template][value=device]")
    page.fill("input[name=q]", "web-0002")
    expect(page.locator("#batch-device option")).to_have_count(2)  # the prompt and the one match
    page.select_option("#batch-device", Device.objects.get(device_key="web-0002").asset_id)
    with page.expect_download() as download:
        page.click("#template-download")
    from_device = tmp_path / "from-device.xlsx"
    download.value.save_as(from_device)
    book = load_workbook(from_device)
    assert book["Devices"]["A3"].value == "web-0002"
    book["Devices"]["B3"] = "Renamed in the browser"
    book.save(from_device)
    page.set_input_files("#batch-file", str(from_device))
    page.click("#batch-upload")
    expect(page.locator("#count-valid")).to_have_text("1")
    page.click("#apply-batch")
    expect(page.locator("#count-applied")).to_have_text("1")
    assert Device.objects.get(device_key="web-0002").name == "Renamed in the browser"
    page.goto(f"{base}/devices/batch/")
    expect(page.locator("#batch-jobs tbody tr")).to_have_count(2)
