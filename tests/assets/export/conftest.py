"""Export fixtures: files in a temporary folder, a few devices of two products, readers of what was exported."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from openpyxl import load_workbook

from assets.models import Device, Product
from tests.assets.migration.fixtures import eager_tasks  # noqa: F401 - the fixture, for the async tests


@pytest.fixture(autouse=True)
def export_dir(settings, tmp_path):
    settings.EXPORT_DIR = tmp_path / "exports"
    settings.BATCH_UPLOAD_DIR = tmp_path / "batch-uploads"
    return settings.EXPORT_DIR


@pytest.fixture
def second_product(acme, thing_model) -> Product:
    return Product.objects.create(ou=acme, name="Meter", model=thing_model)


def make_devices(product: Product, count: int, prefix: str = "dev", **fields) -> list[Device]:
    return Device.objects.bulk_create([
        Device(ou=product.ou, product=product, device_key=f"{prefix}-{n:04d}", name=f"{prefix} {n}",
               attributes={"serial": f"S{n}", "capacity": n * 10}, tags={"site": "north"} if n % 2 else {},
               **fields) for n in range(count)])


def zip_books(content: bytes) -> dict[str, object]:
    """The workbooks of an exported zip by file name, opened as a spreadsheet program would."""
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        return {name: load_workbook(io.BytesIO(archive.read(name))) for name in archive.namelist()}


def data_rows(book) -> list[list]:
    return [list(row) for row in book["Devices"].iter_rows(min_row=3, values_only=True)]


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode("utf-8-sig"))))
