"""Each kind of bad upload is refused with a clear message, and nothing changes.

Refusals found from the zip's directory come before any job exists (the API answers 400); those
found while reading (headers, product, formulas, hidden sheets, rows) end the job as failed.
"""

from __future__ import annotations

import io
import re
import struct
import zipfile

import pytest

from assets.batch import services
from assets.batch.parse import MACRO_MAIN, OLE2_MAGIC, XLSX_MAIN, BadFile
from assets.batch.template import build_template
from assets.models import BatchJob, BatchOperation, BatchStatus, Device
from tests.assets.batch.conftest import as_upload, edit_workbook, row_for

pytestmark = pytest.mark.django_db
IMPORT = BatchOperation.IMPORT


def good_rows(product, count: int = 2) -> list[list]:
    return [row_for(product, {"deviceKey": f"new-{n:04d}", "Device Name": f"New {n}", "serial": f"S{n}"})
            for n in range(count)]


def refusal(writer, product, content: bytes, name: str = "devices.xlsx") -> tuple[str, str, str]:
    """(code, message, where): where is "upload" (no job made) or "job" (the job failed)."""
    devices_before = list(Device.objects.values_list("pk", "name", "attributes", "tags").order_by("pk"))
    jobs_before = BatchJob.objects.count()
    try:
        job = services.start_batch(writer, product.ou, product, IMPORT, as_upload(content, name))
    except BadFile as error:
        assert BatchJob.objects.count() == jobs_before
        where, code, message = "upload", error.code, error.message
    else:
        if job.result["in_celery"]:
            job = services.parse_job(job.pk)  # what the worker would do with it
        assert job.status == BatchStatus.FAILED, (job.status, job.problems)
        assert (job.valid_rows, job.applied_rows) == (0, 0)
        where, code, message = "job", job.result["code"], job.message
    assert list(Device.objects.values_list("pk", "name", "attributes", "tags").order_by("pk")) == devices_before
    return code, message, where


def edited(product, change) -> bytes:
    return edit_workbook(build_template(product, rows=good_rows(product)), change)


def rezip(content: bytes, change) -> bytes:
    """Rewrite the parts of an .xlsx: change(name, data) returns the new data (or None to drop the part)."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(content)) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for info in source.infolist():
            data = change(info.filename, source.read(info.filename))
            if data is not None:
                target.writestr(info.filename, data)
    return out.getvalue()


@pytest.fixture(autouse=True)
def no_leftovers(batch_upload_dir):
    yield
    leftovers = list(batch_upload_dir.glob("*.xlsx")) if batch_upload_dir.exists() else []
    assert leftovers == [], "a refused upload must not stay on disk"


def test_a_text_file_named_xlsx_is_refused_by_its_content(writer, product):
    code, message, where = refusal(writer, product, b"deviceKey,Device Name\ninv-9,Nine\n")
    assert (code, where) == ("not_xlsx", "upload")
    assert message.startswith("This is not an .xlsx file: its content is not an Excel workbook, whatever its name.")


def test_another_kind_of_zip_is_not_a_workbook(writer, product):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("readme.txt", "hello")
    code, message, _ = refusal(writer, product, out.getvalue())
    assert code == "not_xlsx" and "not an Excel workbook" in message


def test_an_empty_file_is_refused(writer, product):
    assert refusal(writer, product, b"")[:2] == ("empty_file", "The file is empty.")


def test_a_truncated_zip_is_reported_as_damaged(writer, product):
    content = build_template(product, rows=good_rows(product))
    code, message, where = refusal(writer, product, content[: len(content) // 2])
    assert (code, where) == ("corrupt", "upload")
    assert message.startswith("The file is damaged and cannot be read as an .xlsx workbook")


def test_a_password_protected_workbook_is_named_as_such(writer, product):
    """Excel stores an encrypted .xlsx inside an OLE2 compound file (as old .xls files are)."""
    code, message, where = refusal(writer, product, OLE2_MAGIC + bytes(4096))
    assert (code, where) == ("encrypted", "upload")
    assert "password-protected (encrypted)" in message and "Remove the password" in message


def test_a_zip_bomb_is_refused_before_anything_inflates(writer, product, settings):
    settings.BATCH_MAX_UNZIPPED_BYTES = 10 * 1024 * 1024
    padding = b" " * (30 * 1024 * 1024)  # 30 MB of sheet XML that deflates to a few KB

    def inflate(name, data):
        return data.replace(b"</worksheet>", padding + b"</worksheet>") if name == "xl/worksheets/sheet1.xml" else data

    content = rezip(build_template(product, rows=good_rows(product)), inflate)
    assert len(content) < 200_000
    code, message, where = refusal(writer, product, content)
    assert (code, where) == ("zip_bomb", "upload")
    assert "unpacks to 30.0 MB, more than the 10.0 MB allowed" in message


@pytest.mark.parametrize("part", ["xl/worksheets/sheet1.xml", "xl/styles.xml"])
def test_a_zip_that_lies_about_its_sizes_is_caught_while_inflating(writer, product, part):
    """The directory says a part is small: inflating stops at that size and the CRC gives the lie away
    (the reader never sees the real size)."""
    content = bytearray(build_template(product, rows=good_rows(product, 50)))
    with zipfile.ZipFile(io.BytesIO(bytes(content))) as archive:
        info = archive.getinfo(part)
    fake = info.file_size // 2
    struct.pack_into("<I", content, info.header_offset + 22, fake)  # local header: uncompressed size
    name = info.filename.encode()
    central = content.index(b"PK\x01\x02")
    while content[central + 46:central + 46 + len(name)] != name:
        central = content.index(b"PK\x01\x02", central + 4)
    struct.pack_into("<I", content, central + 24, fake)  # central directory: uncompressed size
    code, message, where = refusal(writer, product, bytes(content))
    assert (code, where) == ("corrupt", "job")
    assert "damaged" in message


def test_a_template_without_rows_is_refused(writer, product):
    code, message, where = refusal(writer, product, build_template(product))
    assert (code, where) == ("no_rows", "job")
    assert message == "The file has no devices: fill one device per row from row 3 of the Devices sheet."


def test_a_renamed_header_column_is_refused(writer, product):
    def rename(book):
        book["Devices"]["C1"] = "Timezone"

    code, message, _ = refusal(writer, product, edited(product, rename))
    assert code == "bad_headers"
    assert ('missing column "Time Zone"; unknown column C "Timezone"' in message)


def test_a_missing_header_column_is_refused(writer, product):
    def drop(book):
        book["Devices"].delete_cols(5)  # serial

    code, message, _ = refusal(writer, product, edited(product, drop))
    assert code == "bad_headers" and 'missing column "serial"' in message


def test_reordered_columns_are_read_by_their_names(writer, product):
    def swap(book):
        sheet = book["Devices"]
        for row in sheet.iter_rows(min_row=1, max_row=3):
            row[1].value, row[2].value = row[2].value, row[1].value

    rows = [row_for(product, {"deviceKey": "new-0001", "Device Name": "Swapped", "Time Zone": "+01:00",
                              "serial": "S"})]
    content = edit_workbook(build_template(product, rows=rows), swap)
    job = services.start_batch(writer, product.ou, product, IMPORT, as_upload(content))
    assert (job.valid_rows, job.problems) == (1, "")
    services.apply_job(writer, job)
    assert Device.objects.get(device_key="new-0001").timezone == "+01:00"


def test_another_products_template_is_refused(writer, product, gateway_product):
    content = build_template(gateway_product, rows=good_rows(gateway_product))
    code, message, _ = refusal(writer, product, content)
    assert code == "wrong_product"
    assert message == (f"This is the template of product {gateway_product.product_key}, not of Inverter "
                       f"({product.product_key}). Download Template_{product.product_key}.xlsx and fill that.")


def test_a_file_that_names_no_product_is_refused(writer, product):
    def forget(book):
        del book["Instructions"]

    code, message, _ = refusal(writer, product, edited(product, forget))
    assert code == "not_a_template" and "names no Product key" in message


def test_a_workbook_without_the_devices_sheet_is_refused(writer, product):
    def rename(book):
        book["Devices"].title = "Sheet1"

    code, _, where = refusal(writer, product, edited(product, rename))
    assert (code, where) == ("not_a_template", "upload")


@pytest.mark.parametrize(("sheet", "state"), [("Secret", "hidden"), ("Secret", "veryHidden"), ("Lists", "veryHidden")])
def test_hidden_sheets_are_refused_except_the_templates_own_lists(writer, product, sheet, state):
    def hide(book):
        target = book[sheet] if sheet in book.sheetnames else book.create_sheet(sheet)
        target["A1"] = "what the uploader cannot see"
        target.sheet_state = state

    code, message, _ = refusal(writer, product, edited(product, hide))
    assert code == "hidden_sheet"
    assert f'The workbook has hidden sheets ("{sheet}")' in message


def test_formulas_are_refused_never_evaluated(writer, product):
    def formula(book):
        book["Devices"]["F4"] = "=1000*2"

    code, message, _ = refusal(writer, product, edited(product, formula))
    assert code == "formulas"
    assert message.startswith('The "Devices" sheet holds 1 formula, in cell F4.')
    assert "Paste Special → Values" in message


def test_a_file_over_the_size_limit_is_refused(writer, product, settings):
    settings.BATCH_MAX_FILE_BYTES = 4 * 1024
    code, message, where = refusal(writer, product, build_template(product, rows=good_rows(product, 200)))
    assert (code, where) == ("file_too_large", "upload")
    assert re.fullmatch(r"The file is [0-9.]+ MB; the limit is 0\.0 MB\.", message)


def test_a_file_over_the_row_limit_is_refused(writer, product, settings):
    settings.BATCH_MAX_ROWS = 3
    code, message, _ = refusal(writer, product, build_template(product, rows=good_rows(product, 4)))
    assert code == "too_many_rows"
    assert 'reaches row 6; a template holds at most 3 devices (rows 3 to 5)' in message


def test_exactly_the_row_limit_is_accepted(writer, product, settings):
    settings.BATCH_MAX_ROWS = 3
    job = services.start_batch(writer, product.ou, product, IMPORT,
                               as_upload(build_template(product, rows=good_rows(product, 3))))
    assert job.valid_rows == 3


def test_a_cell_far_past_the_columns_is_refused_before_the_reader_allocates_it(writer, product):
    def far(book):
        book["Devices"]["XFD3"] = "x"

    code, message, _ = refusal(writer, product, edited(product, far))
    assert code == "bad_headers" and "as far right as column XFD" in message


def test_a_sheet_reaching_the_last_row_is_refused_before_the_reader_allocates_it(writer, product):
    def far(book):
        book["Devices"]["A1048576"] = "x"

    code, message, _ = refusal(writer, product, edited(product, far))
    assert code == "too_many_rows" and "reaches row 1,048,576" in message


def test_cells_without_references_are_refused(writer, product):
    def strip_refs(name, data):
        return re.sub(rb'<c r="[A-Z]+[0-9]+"', b"<c", data) if name == "xl/worksheets/sheet1.xml" else data

    code, _, _ = refusal(writer, product, rezip(build_template(product, rows=good_rows(product)), strip_refs))
    assert code == "corrupt"


def test_a_macro_enabled_workbook_is_refused(writer, product):
    def macro(name, data):
        if name == "[Content_Types].xml":
            return data.replace(XLSX_MAIN.encode(), MACRO_MAIN.encode())
        return data

    content = rezip(build_template(product, rows=good_rows(product)), macro)
    assert b"macroEnabled" in zipfile.ZipFile(io.BytesIO(content)).read("[Content_Types].xml")
    code, message, _ = refusal(writer, product, content)
    assert code == "not_xlsx" and ".xlsm" in message


def test_formulas_are_found_in_sheets_written_with_a_namespace_prefix(writer, product):
    """Some libraries write <x:c><x:f>…</x:f></x:c>; the scan follows the sheet's own prefix."""
    def prefixed(name, data):
        if name != "xl/worksheets/sheet1.xml":
            return data
        data = data.replace(b'<c r="F3"', b'<c r="F3"><f>1+1</f></c><c r="Z3"', 1)
        data = re.sub(rb"<(/?)(?![?!])", rb"<\1x:", data)
        return data.replace(b"<x:worksheet xmlns=", b"<x:worksheet xmlns:x=", 1)

    content = rezip(build_template(product, rows=good_rows(product)), prefixed)
    assert b"<x:f>" in zipfile.ZipFile(io.BytesIO(content)).read("xl/worksheets/sheet1.xml")
    code, message, _ = refusal(writer, product, content)
    assert code == "formulas" and "in cell F3" in message


@pytest.mark.parametrize("chunk", [97, 1000, 4096])
def test_the_scan_sees_tags_cut_across_chunk_boundaries(writer, product, monkeypatch, chunk):
    """Large sheets are scanned a megabyte at a time: here tiny chunks cut every kind of tag somewhere."""
    from assets.batch import parse

    monkeypatch.setattr(parse, "CHUNK", chunk)
    job = services.start_batch(writer, product.ou, product, IMPORT,
                               as_upload(build_template(product, rows=good_rows(product, 60))))
    assert (job.status, job.valid_rows) == (BatchStatus.PARSED, 60)

    def formula(book):
        book["Devices"]["F40"] = "=1+1"

    code, message, _ = refusal(writer, product, edit_workbook(build_template(product, rows=good_rows(product, 60)),
                                                              formula))
    assert code == "formulas" and "1 formula, in cell F40" in message
