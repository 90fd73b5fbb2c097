"""Writing the devices of a queryset: a zip of Batch Update templates (one per product) or one CSV file.

Both stream: devices come from one `.iterator(chunk_size=CHUNK)` query ordered by product (values, not
model instances), the products from one more query, and each workbook is written in openpyxl's write-only
mode to a temporary file that goes into the zip at once. Memory stays bounded by a chunk and one workbook's
buffers, whatever the number of devices; the number of queries does not depend on it either.

CSV columns: assetId, deviceKey, name, productKey, status, timezone, description, tags, attributes. Tags and
attributes are one JSON object each: one file holds every product, whose attributes differ. A text cell that
a spreadsheet would read as a formula (= + - @ tab CR first) gets a leading ' (OWASP's CSV injection rule).
"""

from __future__ import annotations

import csv
import io
import json
import re
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from itertools import groupby
from operator import attrgetter
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

from django.db.models import QuerySet
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

from ..batch.columns import FIRST_DATA_ROW, column_letter, columns_for
from ..batch.template import FORMULA_LEADS, device_row, write_template
from ..models import Device, DeviceStatus, Product

CHUNK = 2_000  # devices fetched per round trip
PROGRESS_EVERY = 1_000  # devices between two progress reports
ROW_FIELDS = ("product_id", "asset_id", "device_key", "name", "timezone", "description", "tags", "attributes",
              "enabled", "activated_at", "online")
CSV_HEADER = ("assetId", "deviceKey", "name", "productKey", "status", "timezone", "description", "tags",
              "attributes")
CSV_CONTENT_TYPE = "text/csv; charset=utf-8"
ZIP_CONTENT_TYPE = "application/zip"

Progress = Callable[[int], None]
DATA_SHEET_XML = "xl/worksheets/sheet1.xml"  # the Devices sheet: the first write_template creates
PROBE = "=probe"  # text a spreadsheet would read as a formula: openpyxl gives it the quote-prefix style
PROBE_ROW_RE = re.compile(rf'<row r="{FIRST_DATA_ROW}"><c r="A{FIRST_DATA_ROW}" s="(\d+)" t="inlineStr">.*?</row>')
LETTERS = [column_letter(index) for index in range(16_384)]


def device_rows(devices: QuerySet[Device]) -> Iterator[Any]:
    """The devices as named rows (what device_row reads), by product then id, fetched a chunk at a time."""
    return devices.order_by("product_id", "pk").values_list(*ROW_FIELDS, named=True).iterator(chunk_size=CHUNK)


def products_of(devices: QuerySet[Device]) -> dict[int, Product]:
    """The products (with their models) of the devices, in one query."""
    ids = devices.order_by().values("product_id")
    return {product.pk: product for product in Product.objects.filter(pk__in=ids).select_related("model")}


def status_of(row: Any) -> str:
    if not row.enabled:
        return DeviceStatus.DISABLED.value
    if row.activated_at is None:
        return DeviceStatus.INACTIVE.value
    return (DeviceStatus.ONLINE if row.online else DeviceStatus.OFFLINE).value


class Counter:
    """Counts written devices and tells `progress` every PROGRESS_EVERY of them."""

    def __init__(self, progress: Progress | None) -> None:
        self.done = 0
        self.progress = progress

    def tick(self) -> None:
        self.done += 1
        if self.progress is not None and self.done % PROGRESS_EVERY == 0:
            self.progress(self.done)


def write_xlsx_zip(devices: QuerySet[Device], target: str | Path | IO[bytes],
                   progress: Progress | None = None) -> int:
    """`<productKey>.xlsx` per product in a zip, each a Batch Update template holding its devices; returns
    how many devices were written."""
    products = products_of(devices)
    counter = Counter(progress)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_STORED) as archive, \
            tempfile.TemporaryDirectory(prefix="export-") as folder:
        for product_id, group in groupby(device_rows(devices), key=attrgetter("product_id")):
            product = products[product_id]
            path = Path(folder) / f"{product.product_key}.xlsx"
            write_workbook(path, product, _template_rows(group, columns_for(product.model), counter))
            archive.write(path, path.name)  # an .xlsx is compressed already: stored as it is
            path.unlink()
    return counter.done


def write_workbook(path: Path, product: Product, rows: Iterator[list[Any]]) -> None:
    """The product's Batch Update template (openpyxl writes it: header rows, drop-downs, Instructions, Lists)
    with `rows` streamed into its Devices sheet as the cells openpyxl's write-only mode writes (inline strings,
    numbers, the quote-prefix style on text that starts like a formula), about ten times faster than its
    per-cell objects. One probe row tells the quote-prefix style's number; it is taken out again."""
    skeleton = path.with_suffix(".skeleton")
    write_template(str(skeleton), product, rows=[[PROBE]])
    with zipfile.ZipFile(skeleton) as source, zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED,
                                                               compresslevel=1) as target:
        for info in source.infolist():
            if info.filename != DATA_SHEET_XML:
                target.writestr(info.filename, source.read(info.filename))
                continue
            sheet = source.read(info.filename).decode()
            probe = PROBE_ROW_RE.search(sheet)
            assert probe is not None, "the probe row is where write_template puts the first row"
            quote_style = probe.group(1)
            with target.open(info.filename, "w", force_zip64=True) as out:
                out.write(sheet[:probe.start()].encode())
                batch: list[str] = []
                for number, values in enumerate(rows, start=FIRST_DATA_ROW):
                    batch.append(_row_xml(number, values, quote_style))
                    if len(batch) == 1_000:
                        out.write("".join(batch).encode())
                        batch.clear()
                out.write("".join(batch).encode())
                out.write(sheet[probe.end():].encode())
    skeleton.unlink()


def _row_xml(number: int, values: list[Any], quote_style: str) -> str:
    cells = []
    for letter, value in zip(LETTERS, values, strict=False):
        if value is None or value == "":
            continue
        if type(value) in (int, float):
            cells.append(f'<c r="{letter}{number}" t="n"><v>{value!r}</v></c>')
            continue
        text = escape(ILLEGAL_CHARACTERS_RE.sub("", str(value)))
        style = f' s="{quote_style}"' if text.startswith(FORMULA_LEADS) else ""
        space = ' xml:space="preserve"' if text != text.strip() else ""
        cells.append(f'<c r="{letter}{number}"{style} t="inlineStr"><is><t{space}>{text}</t></is></c>')
    return f'<row r="{number}">{"".join(cells)}</row>'


def _template_rows(rows: Iterator[Any], columns: list, counter: Counter) -> Iterator[list[Any]]:
    for row in rows:
        counter.tick()
        yield device_row(columns, row)


def csv_text(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_LEADS):
        return "'" + value
    return value


def csv_chunks(devices: QuerySet[Device], counter: Counter | None = None) -> Iterator[str]:
    """The CSV file in pieces of about CHUNK rows (a byte-order mark first: Excel then reads it as UTF-8)."""
    keys = {pk: product.product_key for pk, product in products_of(devices).items()}
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    yield "\ufeff" + _drain(buffer)
    counter = counter or Counter(None)
    for row in device_rows(devices):
        writer.writerow([row.asset_id, csv_text(row.device_key), csv_text(row.name), keys[row.product_id],
                         status_of(row), csv_text(row.timezone), csv_text(row.description),
                         json.dumps(row.tags or {}, ensure_ascii=False),
                         json.dumps(row.attributes or {}, ensure_ascii=False)])
        counter.tick()
        if counter.done % CHUNK == 0:
            yield _drain(buffer)
    yield _drain(buffer)


def write_csv(devices: QuerySet[Device], target: IO[bytes], progress: Progress | None = None) -> int:
    counter = Counter(progress)
    for piece in csv_chunks(devices, counter):
        target.write(piece.encode())
    return counter.done


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text
