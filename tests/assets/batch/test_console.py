"""The console's Batch Import and Update: the OU matrix on every URL, and the flow through the pages."""

from __future__ import annotations

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from assets.models import BatchJob, BatchOperation, BatchStatus, Device
from tests.assets.batch.conftest import as_upload, parse_rows, role_cases, row_for, template_with
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast, writer, product, device):
    job = parse_rows(writer, product, BatchOperation.IMPORT, [
        row_for(product, {"deviceKey": "new-0001", "Device Name": "New", "serial": "S1"}),
        row_for(product, {"deviceKey": "new-0002", "Device Name": "New", "Time Zone": "+25:00", "serial": "S2"})])
    return {"product": product, "device": device, "job": job}


def upload_body(w) -> dict:
    content = template_with(w["product"], [row_for(w["product"], {"deviceKey": "new-0100", "Device Name": "N",
                                                                  "serial": "S"})])
    return {"operation": "import", "product": w["product"].product_key, "file": as_upload(content)}


# (name, method, url, body, writer, viewer, outsider, anonymous)
MATRIX = [
    ("template", "get", lambda w: reverse("assets:batch-template") + f"?product={w['product'].product_key}",
     None, 200, 200, 404, 302),
    ("template from device", "get", lambda w: reverse("assets:batch-template")
     + f"?product={w['product'].product_key}&template=device&device={w['device'].asset_id}", None, 200, 200, 404, 302),
    ("device picker", "get", lambda w: reverse("assets:batch-device-options") + f"?product={w['product'].product_key}",
     None, 200, 200, 404, 302),
    ("upload", "post", lambda w: reverse("assets:batch-upload"), upload_body, 302, 403, 404, 302),
    ("result", "get", lambda w: reverse("assets:batch-job", args=[w["job"].pk]), None, 200, 200, 404, 302),
    ("apply", "post", lambda w: reverse("assets:batch-apply", args=[w["job"].pk]), None, 302, 403, 404, 302),
    ("errmsg.txt", "get", lambda w: reverse("assets:batch-errmsg", args=[w["job"].pk]), None, 200, 200, 404, 302),
]


@pytest.mark.parametrize(("who", "method", "url", "body", "status"), list(role_cases(MATRIX)))
def test_every_batch_url_answers_each_role(world, cast, who, method, url, body, status):
    devices_before = Device.objects.count()
    client = client_for(cast[who])
    data = body(world) if body else {}
    response = getattr(client, method)(url(world), data)
    assert response.status_code == status, response.content[:500]
    if status == 302 and who == "anonymous":
        assert response["Location"].startswith(reverse("login"))
    if status in (403, 404, 302) and who != "writer":
        assert Device.objects.count() == devices_before  # nothing written by those who may not
        world["job"].refresh_from_db()
        assert world["job"].status == BatchStatus.PARSED


def test_the_outsider_sees_no_acme_product_or_job_on_its_page(world, outsider):
    page = client_for(outsider).get(reverse("assets:batch")).content.decode()
    assert world["product"].product_key not in page
    assert "devices.xlsx" not in page


def test_the_device_list_offers_batch_import_to_writers_only(world, writer, viewer):
    assert 'id="batch-import"' in client_for(writer).get(reverse("assets:device-list")).content.decode()
    assert 'id="batch-import"' not in client_for(viewer).get(reverse("assets:device-list")).content.decode()


def test_the_page_offers_the_dialogs_choices(world, writer, viewer, gateway_product):
    page = client_for(writer).get(reverse("assets:batch")).content.decode()
    for text in ("Batch Import", "Batch Update", "Download an empty template",
                 "Generate template from an existing device", "Template (.xlsx)", 'id="batch-upload"',
                 gateway_product.product_key):
        assert text in page
    assert 'id="batch-upload"' not in client_for(viewer).get(reverse("assets:batch")).content.decode()


def test_the_template_download_is_named_for_the_product(world, writer):
    product = world["product"]
    response = client_for(writer).get(reverse("assets:batch-template"), {"product": product.product_key})
    assert response["Content-Disposition"] == f'attachment; filename="Template_{product.product_key}.xlsx"'
    book = load_workbook(io.BytesIO(response.content))
    assert book["Devices"].max_row == 2


def test_a_template_from_a_device_carries_its_values(world, writer):
    device = world["device"]
    response = client_for(writer).get(reverse("assets:batch-template"), {
        "product": world["product"].product_key, "template": "device", "device": device.asset_id})
    book = load_workbook(io.BytesIO(response.content))
    assert [c.value for c in book["Devices"][3]][:2] == [device.device_key, device.name]


def test_a_device_of_another_product_cannot_fill_the_template(world, writer, gateway):
    response = client_for(writer).get(reverse("assets:batch-template"), {
        "product": world["product"].product_key, "template": "device", "device": gateway.asset_id})
    assert response.status_code == 404


def test_the_device_picker_lists_this_products_devices_and_searches(world, writer, gateway):
    url = reverse("assets:batch-device-options")
    options = client_for(writer).get(url, {"product": world["product"].product_key}).content.decode()
    assert world["device"].asset_id in options and gateway.asset_id not in options
    assert world["device"].asset_id not in client_for(writer).get(
        url, {"product": world["product"].product_key, "q": "nothing-like-it"}).content.decode()


def test_upload_shows_the_counts_first_problems_and_actions(world, writer):
    client = client_for(writer)
    product = world["product"]
    content = template_with(product, [
        row_for(product, {"deviceKey": "new-0200", "Device Name": "A", "serial": "S"}),
        row_for(product, {"deviceKey": "new-0201", "Device Name": "B", "serial": "S", "phase": 7})])
    response = client.post(reverse("assets:batch-upload"), {"operation": "import", "product": product.product_key,
                                                            "file": as_upload(content)}, follow=True)
    page = response.content.decode()
    assert '<b id="count-total">2</b>' in page and '<b id="count-valid">1</b>' in page
    assert '<b id="count-invalid">1</b>' in page
    assert 'Row 4, column G (phase): &quot;7&quot; is not one of the allowed values' in page
    assert 'id="apply-batch">Import</button>' in page and 'id="export-invalid"' in page
    job = BatchJob.objects.latest("pk")
    errmsg = client.get(reverse("assets:batch-errmsg", args=[job.pk]))
    assert errmsg["Content-Disposition"] == 'attachment; filename="errmsg.txt"'
    assert errmsg.content.decode() == ('Row 4, column G (phase): "7" is not one of the allowed values: '
                                       "1 (single), 3 (three)\n")
    page = client.post(reverse("assets:batch-apply", args=[job.pk]), follow=True).content.decode()
    assert "1 device imported." in page and '<b id="count-applied">1</b>' in page
    assert Device.objects.filter(device_key="new-0200").exists()
    assert 'id="apply-batch"' not in page


def test_update_offers_an_update_button(world, writer):
    product, device = world["product"], world["device"]
    content = template_with(product, [row_for(product, {"deviceKey": device.device_key, "Device Name": "Renamed"})])
    response = client_for(writer).post(reverse("assets:batch-upload"), {
        "operation": "update", "product": product.product_key, "file": as_upload(content)}, follow=True)
    page = response.content.decode()
    assert 'id="apply-batch">Update</button>' in page
    assert 'id="export-invalid"' not in page


def test_a_refused_file_shows_why_and_leaves_no_job(world, writer):
    jobs = BatchJob.objects.count()
    response = client_for(writer).post(reverse("assets:batch-upload"), {
        "operation": "import", "product": world["product"].product_key,
        "file": as_upload(b"not a spreadsheet", "devices.xlsx")})
    assert response.status_code == 400
    assert "This is not an .xlsx file" in response.content.decode()
    assert BatchJob.objects.count() == jobs


def test_a_file_refused_while_reading_shows_its_reason_on_the_job(world, writer):
    product = world["product"]
    page = client_for(writer).post(reverse("assets:batch-upload"), {
        "operation": "import", "product": product.product_key, "file": as_upload(template_with(product))},
        follow=True).content.decode()
    assert 'id="job-message">The file has no devices' in page


def test_a_running_job_polls_for_its_progress(world, writer):
    job = world["job"]
    BatchJob.objects.filter(pk=job.pk).update(status=BatchStatus.PARSING, progress=40)
    client = client_for(writer)
    page = client.get(reverse("assets:batch-job", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page and 'value="40"' in page
    partial = client.get(reverse("assets:batch-job", args=[job.pk]), HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="job-status").content.decode()
    assert partial.lstrip().startswith('<section class="card wide-form" id="job-status"')
    BatchJob.objects.filter(pk=job.pk).update(status=BatchStatus.PARSED, progress=100)
    partial = client.get(reverse("assets:batch-job", args=[job.pk]), HTTP_HX_REQUEST="true",
                         HTTP_HX_TARGET="job-status").content.decode()
    assert "hx-trigger" not in partial  # finished: the polling stops


def test_the_job_list_costs_a_fixed_number_of_queries(world, writer, product, django_assert_max_num_queries):
    for n in range(15):
        parse_rows(writer, product, BatchOperation.IMPORT, [row_for(product, {"deviceKey": f"k-{n:04d}",
                                                                               "Device Name": "N", "serial": "S"})])
    client = client_for(writer)
    client.get(reverse("assets:batch"))  # session and OU set up
    with django_assert_max_num_queries(8):
        page = client.get(reverse("assets:batch")).content.decode()
    assert page.count("devices.xlsx") == 16
