"""What an export holds: the Batch Update template's shape, a round trip through Batch Update, CSV, OU isolation
and a number of queries that does not grow with the number of devices."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from openpyxl import load_workbook

from accounts.models import AuditEvent
from assets.batch import services as batch
from assets.batch.template import build_template
from assets.export import services
from assets.models import BatchOperation, BatchStatus, Device
from tests.assets.batch.conftest import as_upload, edit_workbook

from .conftest import csv_rows, data_rows, make_devices, zip_books

pytestmark = pytest.mark.django_db


def export_bytes(user, ou, params, fmt="xlsx") -> bytes:
    out = io.BytesIO()
    services.write_export(services.console_devices(user, ou, params), fmt, out)
    return out.getvalue()


def test_each_product_is_a_workbook_in_the_batch_templates_shape(writer, acme, product, second_product):
    make_devices(product, 3, "inv")
    make_devices(second_product, 2, "met")
    books = zip_books(export_bytes(writer, acme, {}))
    assert set(books) == {f"{product.product_key}.xlsx", f"{second_product.product_key}.xlsx"}
    template = load_workbook(io.BytesIO(build_template(product)))
    book = books[f"{product.product_key}.xlsx"]
    assert book.sheetnames == template.sheetnames == ["Devices", "Instructions", "Lists"]
    assert book["Lists"].sheet_state == "hidden"
    for sheet in ("Devices", "Lists"):
        head = [list(r) for r in template[sheet].iter_rows(max_row=2, values_only=True)]
        assert [list(r) for r in book[sheet].iter_rows(max_row=2, values_only=True)] == head
    generated = [row for row in template["Instructions"].iter_rows(values_only=True) if row and row[0] != "Generated"]
    assert [row for row in book["Instructions"].iter_rows(values_only=True) if row and row[0] != "Generated"] \
        == generated
    rows = data_rows(book)
    assert [row[0] for row in rows] == ["inv-0000", "inv-0001", "inv-0002"]
    assert rows[1][:3] == ["inv-0001", "inv 1", "+08:00"]
    assert "site=north" in rows[1]
    assert [row[0] for row in data_rows(books[f"{second_product.product_key}.xlsx"])] == ["met-0000", "met-0001"]


def test_an_exported_file_edited_uploads_as_a_batch_update(writer, acme, product):
    make_devices(product, 3, "inv")
    books_zip = export_bytes(writer, acme, {"q": "inv-0001"})
    with __import__("zipfile").ZipFile(io.BytesIO(books_zip)) as archive:
        exported = archive.read(f"{product.product_key}.xlsx")

    def rename(book) -> None:
        sheet = book["Devices"]
        assert sheet["A3"].value == "inv-0001"
        sheet["B3"] = "Renamed by a person"

    job = batch.start_batch(writer, acme, product, BatchOperation.UPDATE, as_upload(edit_workbook(exported, rename)))
    assert job.status == BatchStatus.PARSED, job.problems
    assert (job.valid_rows, job.invalid_rows) == (1, 0)
    job = batch.apply_job(writer, job)
    assert job.status == BatchStatus.APPLIED
    changed = Device.objects.get(device_key="inv-0001")
    assert changed.name == "Renamed by a person"
    assert changed.attributes["serial"] == "S1" and changed.tags == {"site": "north"}  # the rest kept
    assert Device.objects.get(device_key="inv-0000").name == "inv 0"


def test_csv_holds_every_product_with_tags_and_attributes_as_json(writer, acme, product, second_product):
    make_devices(product, 2, "inv")
    make_devices(second_product, 1, "met", enabled=False)
    Device.objects.filter(device_key="inv-0000").update(name="=HYPERLINK(1)")
    rows = csv_rows(export_bytes(writer, acme, {}, "csv"))
    assert list(rows[0]) == ["assetId", "deviceKey", "name", "productKey", "status", "timezone", "description",
                             "tags", "attributes"]
    by_key = {row["deviceKey"]: row for row in rows}
    assert set(by_key) == {"inv-0000", "inv-0001", "met-0000"}
    assert by_key["inv-0001"]["productKey"] == product.product_key
    assert by_key["inv-0001"]["status"] == "inactive"
    assert by_key["met-0000"]["status"] == "disable"
    assert json.loads(by_key["inv-0001"]["tags"]) == {"site": "north"}
    assert json.loads(by_key["inv-0001"]["attributes"]) == {"serial": "S1", "capacity": 10}
    assert by_key["inv-0000"]["name"] == "'=HYPERLINK(1)"  # never a formula in a spreadsheet
    assert by_key["inv-0000"]["assetId"] == Device.objects.get(device_key="inv-0000").asset_id


def test_the_query_and_filters_choose_the_devices(writer, acme, product, second_product):
    make_devices(product, 4, "inv")
    make_devices(second_product, 2, "met")
    keys = lambda params: {r["deviceKey"] for r in csv_rows(export_bytes(writer, acme, params, "csv"))}  # noqa: E731
    assert keys({"q": "tag:site=north"}) == {"inv-0001", "inv-0003", "met-0001"}
    assert keys({"q": "attr:capacity>=20", "product": product.product_key}) == {"inv-0002", "inv-0003"}
    assert keys({"tag": "site:north", "product": second_product.product_key}) == {"met-0001"}


def test_an_export_never_holds_another_ous_devices(writer, outsider, acme, globex, product):
    make_devices(product, 2, "inv")
    from assets.models import Product

    theirs = Product.objects.create(ou=globex, name="Theirs", model=product.model)
    Device.objects.create(ou=globex, product=theirs, device_key="inv-9999", name="inv theirs",
                          attributes={"serial": "X"})
    assert {r["deviceKey"] for r in csv_rows(export_bytes(writer, acme, {"q": "inv"}, "csv"))} \
        == {"inv-0000", "inv-0001"}
    assert {r["deviceKey"] for r in csv_rows(export_bytes(outsider, globex, {"q": "inv"}, "csv"))} == {"inv-9999"}
    # the outsider naming Acme gets nothing of it: Acme's devices are not visible to them
    assert csv_rows(export_bytes(outsider, acme, {}, "csv")) == []
    assert zip_books(export_bytes(outsider, acme, {})) == {}


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_the_number_of_queries_does_not_grow_with_the_devices(writer, acme, product, second_product, fmt):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            export_bytes(writer, acme, {"q": "inv OR met"}, fmt)
        return len(captured)

    make_devices(product, 2, "inv")
    make_devices(second_product, 1, "met")
    queries()  # the user's grants are cached from then on
    few = queries()
    make_devices(product, 40, "inv-more")
    make_devices(second_product, 40, "met-more")
    assert queries() == few


def test_a_bad_query_is_refused_with_its_message(writer, acme):
    with pytest.raises(services.DomainError) as refused:
        services.console_devices(writer, acme, {"q": "status:sleeping"})
    assert "sleeping" in refused.value.message


def test_the_retention_sweep_removes_old_files(writer, acme, product, settings):
    from datetime import timedelta

    from django.utils.timezone import now

    from assets.export.models import ExportJob, ExportStatus

    make_devices(product, 2, "inv")
    job = services.start_job(writer, acme, source=services.CONSOLE, params={}, query="", fmt="csv", total=2)
    services.run_job(job.pk)
    job.refresh_from_db()
    assert services.downloadable(job)
    assert services.expire_jobs() == 0  # young enough
    ExportJob.objects.filter(pk=job.pk).update(created_at=now() - timedelta(hours=settings.EXPORT_KEEP_HOURS + 1))
    assert services.expire_jobs() == 1
    job.refresh_from_db()
    assert job.status == ExportStatus.EXPIRED and not services.downloadable(job)
    assert not (settings.EXPORT_DIR / str(job.pk)).exists()


def test_each_export_is_audited_with_its_query_and_count(writer, acme, product, client):
    make_devices(product, 3, "inv")
    client.force_login(writer)
    response = client.get("/devices/export/?q=inv&format=csv")
    assert response.status_code == 200
    b"".join(response.streaming_content)
    event = AuditEvent.objects.get(action="device.export")
    assert event.after == {"query": "inv", "format": "csv", "count": 3, "job": None}
    assert event.ou == acme and event.actor == writer


def test_exported_cells_are_the_cells_openpyxl_writes(writer, acme, product):
    """The rows streamed into the sheet read back as build_template's own: text stays text (quote prefix)."""
    make_devices(product, 2, "inv")
    Device.objects.filter(device_key="inv-0000").update(name="=HYPERLINK(1)", description=" spaced <&> ")
    exported = zip_books(export_bytes(writer, acme, {}))[f"{product.product_key}.xlsx"]["Devices"]
    from assets.batch.columns import columns_for
    from assets.batch.template import device_row

    devices = Device.objects.filter(product=product).order_by("pk")
    reference = load_workbook(io.BytesIO(build_template(
        product, rows=[device_row(columns_for(product.model), d) for d in devices])))["Devices"]
    for mine, theirs in zip(exported.iter_rows(min_row=3), reference.iter_rows(min_row=3), strict=True):
        # an empty text is no cell here, an empty inline string there: both read as None
        assert [(c.value, c.value is not None and c.data_type, c.quotePrefix) for c in mine] \
            == [(c.value, c.value is not None and c.data_type, c.quotePrefix) for c in theirs]
    assert exported["B3"].value == "=HYPERLINK(1)" and exported["B3"].quotePrefix
    assert exported["D3"].value == " spaced <&> "
