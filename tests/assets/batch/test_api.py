"""/api/batch/: the OU matrix on every endpoint, and both operations end to end."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from assets.models import BatchJob, BatchOperation, BatchStatus, Device
from tests.assets.api.helpers import api_client_for, assert_error
from tests.assets.batch.conftest import as_upload, parse_rows, role_cases, row_for, template_with

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast, writer, product, device, acme):
    job = parse_rows(writer, product, BatchOperation.IMPORT, [
        row_for(product, {"deviceKey": "new-0001", "Device Name": "New", "serial": "S1"}),
        row_for(product, {"deviceKey": "x", "Device Name": "New", "serial": "S2"})])
    return {"product": product, "device": device, "job": job, "acme": acme}


def upload_body(w) -> dict:
    content = template_with(w["product"], [row_for(w["product"], {"deviceKey": "new-0100", "Device Name": "N",
                                                                  "serial": "S"})])
    return {"ouId": w["acme"].ou_id, "productKey": w["product"].product_key, "operation": "import",
            "file": as_upload(content)}


# (name, method, url, body, writer, viewer, outsider, anonymous)
MATRIX = [
    ("template", "get", lambda w: f"/api/batch/template/?productKey={w['product'].product_key}", None,
     200, 200, 404, 401),
    ("template from device", "get", lambda w: f"/api/batch/template/?productKey={w['product'].product_key}"
     f"&assetId={w['device'].asset_id}", None, 200, 200, 404, 401),
    ("upload", "post", lambda w: "/api/batch/jobs/", upload_body, 201, 403, 404, 401),
    ("result", "get", lambda w: f"/api/batch/jobs/{w['job'].pk}/", None, 200, 200, 404, 401),
    ("apply", "post", lambda w: f"/api/batch/jobs/{w['job'].pk}/apply/", None, 200, 403, 404, 401),
    ("errmsg.txt", "get", lambda w: f"/api/batch/jobs/{w['job'].pk}/errmsg.txt", None, 200, 200, 404, 401),
]


@pytest.mark.parametrize(("who", "method", "url", "body", "status"), list(role_cases(MATRIX)))
def test_every_batch_endpoint_answers_each_role(world, cast, who, method, url, body, status):
    devices_before = Device.objects.count()
    client = api_client_for(cast[who])
    response = (client.post(url(world), body(world), format="multipart") if body
                else getattr(client, method)(url(world)))
    if status >= 400:
        assert_error(response, status)
        assert Device.objects.count() == devices_before
        world["job"].refresh_from_db()
        assert world["job"].status == BatchStatus.PARSED
    else:
        assert response.status_code == status, response.content[:500]


def test_the_job_list_shows_only_visible_jobs(world, cast, writer, viewer, outsider,
                                              django_assert_max_num_queries):
    for n in range(10):
        parse_rows(writer, world["product"], BatchOperation.IMPORT, [
            row_for(world["product"], {"deviceKey": f"k-{n:04d}", "Device Name": "N", "serial": "S"})])
    client = api_client_for(viewer)
    with django_assert_max_num_queries(4):
        jobs = client.get("/api/batch/jobs/").json()
    assert len(jobs) == 11
    assert api_client_for(outsider).get("/api/batch/jobs/").json() == []
    assert api_client_for(viewer).get(f"/api/batch/jobs/?ouId={world['acme'].ou_id}").json()[0]["id"] == max(
        j["id"] for j in jobs)


def test_import_end_to_end(world, writer, acme):
    client = api_client_for(writer)
    product = world["product"]
    template = client.get(f"/api/batch/template/?productKey={product.product_key}")
    assert template["Content-Type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert template["Content-Disposition"] == f'attachment; filename="Template_{product.product_key}.xlsx"'
    book = load_workbook(io.BytesIO(template.content))
    book["Devices"].append(["api-0001", "From the API", "", "", "SN-A1", 7, 3, "", "source=api"])
    book["Devices"].append(["api-0002", "", "+25:00", "", "", "", "", "", ""])
    filled = io.BytesIO()
    book.save(filled)
    response = client.post("/api/batch/jobs/", {"ouId": acme.ou_id, "productKey": product.product_key,
                                                "operation": "import", "file": as_upload(filled.getvalue())},
                           format="multipart")
    assert response.status_code == 201, response.content
    job = response.json()
    assert {k: job[k] for k in ("status", "operation", "productKey", "ouId", "totalRows", "validRows",
                                "invalidRows", "appliedRows", "requestedBy")} == {
        "status": "parsed", "operation": "import", "productKey": product.product_key, "ouId": acme.ou_id,
        "totalRows": 2, "validRows": 1, "invalidRows": 1, "appliedRows": 0, "requestedBy": "writer"}
    assert job["firstProblems"] == [
        "Row 4, column B (Device Name): The device name is required.",
        'Row 4, column C (Time Zone): "+25:00" is not a valid time zone',
        "Row 4, column E (serial): a value is required for Batch Import"]
    assert job["problemCount"] == 3
    errmsg = client.get(f"/api/batch/jobs/{job['id']}/errmsg.txt")
    assert errmsg["Content-Type"] == "text/plain; charset=utf-8"
    assert errmsg.content.decode().splitlines() == job["firstProblems"]
    applied = client.post(f"/api/batch/jobs/{job['id']}/apply/").json()
    assert (applied["status"], applied["appliedRows"]) == ("applied", 1)
    device = Device.objects.get(device_key="api-0001")
    assert (device.attributes, device.tags) == ({"serial": "SN-A1", "capacity": 7.0, "phase": 3}, {"source": "api"})
    assert_error(client.post(f"/api/batch/jobs/{job['id']}/apply/"), 409, "not_parsed")


def test_update_end_to_end_from_a_device_template(world, writer, acme):
    client = api_client_for(writer)
    product, device = world["product"], world["device"]
    template = client.get(f"/api/batch/template/?productKey={product.product_key}&assetId={device.asset_id}")
    book = load_workbook(io.BytesIO(template.content))
    book["Devices"]["B3"] = "Renamed by API"
    filled = io.BytesIO()
    book.save(filled)
    job = client.post("/api/batch/jobs/", {"ouId": acme.ou_id, "productKey": product.product_key,
                                           "operation": "update", "file": as_upload(filled.getvalue())},
                      format="multipart").json()
    assert (job["validRows"], job["invalidRows"]) == (1, 0)
    client.post(f"/api/batch/jobs/{job['id']}/apply/")
    device.refresh_from_db()
    assert device.name == "Renamed by API"


def test_a_refused_file_is_a_400_with_its_reason(world, writer, acme):
    response = api_client_for(writer).post("/api/batch/jobs/", {
        "ouId": acme.ou_id, "productKey": world["product"].product_key, "operation": "import",
        "file": as_upload(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(600))}, format="multipart")
    body = assert_error(response, 400, "encrypted")
    assert "password-protected" in body["message"]
    assert BatchJob.objects.count() == 1  # the world's job only


def test_an_upload_needs_its_fields(world, writer, acme):
    client = api_client_for(writer)
    body = assert_error(client.post("/api/batch/jobs/", {"ouId": acme.ou_id, "productKey": "x", "operation": "merge"},
                                    format="multipart"), 400, "validation_error")
    assert set(body["details"]) == {"operation", "file"}
    assert_error(client.post("/api/batch/jobs/", {"productKey": "x"}, format="multipart"), 400)


def test_apply_of_a_job_without_valid_rows_is_refused(world, writer, product):
    job = parse_rows(writer, product, BatchOperation.IMPORT, [row_for(product, {"deviceKey": "x"})])
    assert_error(api_client_for(writer).post(f"/api/batch/jobs/{job.pk}/apply/"), 400, "nothing_to_apply")


def test_a_template_needs_a_visible_product(world, writer, globex_device):
    client = api_client_for(writer)
    assert_error(client.get("/api/batch/template/"), 400, "validation_error")
    assert_error(client.get(f"/api/batch/template/?productKey={globex_device.product.product_key}"), 404)
    assert_error(client.get(f"/api/batch/template/?productKey={world['product'].product_key}"
                            f"&assetId={globex_device.asset_id}"), 404)
