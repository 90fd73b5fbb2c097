"""Export in real Chromium: filter the device table, click Export, get the zip, check its rows (openpyxl), edit
one and upload it as a Batch Update; then the CSV of the same filter."""

from __future__ import annotations

import csv
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from playwright.sync_api import Page, expect

from assets.models import Device
from tests.assets.export.conftest import make_devices
from tests.browser.conftest import log_in

pytestmark = pytest.mark.browser


def test_export_the_filtered_table_and_upload_it_as_a_batch_update(page: Page, live_server, cast, product,
                                                                   tmp_path: Path):
    make_devices(product, 6, "web")  # the odd ones are tagged site=north
    base = live_server.url
    log_in(page, base, "writer")
    page.fill("#id_q", "tag:site=north")
    # the table, swapped for the query, carries it to its Export form
    expect(page.locator("#device-export input[name=q]")).to_have_value("tag:site=north")
    expect(page.locator("table.devices tbody tr")).to_have_count(3)
    page.select_option("#export-format", "xlsx")
    with page.expect_download() as download:
        page.click("#export-devices")
    name = download.value.suggested_filename
    assert name.startswith("devices-") and name.endswith(".zip")
    archive = tmp_path / name
    download.value.save_as(archive)
    with zipfile.ZipFile(archive) as files:
        assert files.namelist() == [f"{product.product_key}.xlsx"]
        files.extractall(tmp_path)
    workbook_path = tmp_path / f"{product.product_key}.xlsx"
    book = load_workbook(workbook_path)
    rows = [row for row in book["Devices"].iter_rows(min_row=3, values_only=True)]
    assert [row[0] for row in rows] == ["web-0001", "web-0003", "web-0005"]
    assert [row[1] for row in rows] == ["web 1", "web 3", "web 5"]

    book["Devices"]["B4"] = "Renamed after export"
    book.save(workbook_path)
    page.goto(f"{base}/devices/batch/")
    page.check("input[name=operation][value=update]")
    page.select_option("#batch-product", product.product_key)
    page.set_input_files("#batch-file", str(workbook_path))
    page.click("#batch-upload")
    expect(page.locator("#count-valid")).to_have_text("3")
    expect(page.locator("#count-invalid")).to_have_text("0")
    page.click("#apply-batch")
    expect(page.locator("#count-applied")).to_have_text("3")
    assert Device.objects.get(device_key="web-0003").name == "Renamed after export"
    assert Device.objects.get(device_key="web-0001").name == "web 1"

    page.goto(f"{base}/devices/?q=tag:site=north")
    page.select_option("#export-format", "csv")
    with page.expect_download() as download:
        page.click("#export-devices")
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    assert sorted(row["deviceKey"] for row in csv.DictReader(text.splitlines())) == ["web-0001", "web-0003",
                                                                                      "web-0005"]


def test_a_bad_query_export_says_why(page: Page, live_server, cast, product):
    base = live_server.url
    log_in(page, base, "writer")
    page.goto(f"{base}/devices/?q=status:sleeping")
    page.click("#export-devices")
    expect(page.locator("#messages")).to_contain_text("Export: ")
