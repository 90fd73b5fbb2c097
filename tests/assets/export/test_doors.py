"""The console's and the API's export doors: who may use each (the OU matrix), the async path with its job page,
and bad input answered with a clear error, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from assets.export import services
from assets.export.models import ExportJob, ExportStatus
from tests.assets.api.helpers import api_client_for, assert_error
from tests.assets.batch.conftest import role_cases
from tests.conftest import client_for

from .conftest import csv_rows, make_devices, zip_books

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(cast, writer, acme, product):
    make_devices(product, 3, "inv")
    job = services.start_job(writer, acme, source=services.CONSOLE, params={}, query="", fmt="csv", total=3)
    services.run_job(job.pk)
    return {"job": job, "acme": acme}


def body_of(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


# (name, method, url, body, writer, viewer, outsider, anonymous): the outsider exports its own OU (nothing of Acme)
CONSOLE_MATRIX = [
    ("export", "get", lambda w: reverse("assets:device-export") + "?format=csv", None, 200, 200, 200, 302),
    ("job page", "get", lambda w: reverse("assets:export-job", args=[w["job"].pk]), None, 200, 200, 404, 302),
    ("job file", "get", lambda w: reverse("assets:export-download", args=[w["job"].pk]), None, 200, 200, 404, 302),
]
API_MATRIX = [
    ("export", "get", lambda w: f"/api/devices/export/?format=csv&ou={w['acme'].ou_id}", None, 200, 200, 400, 401),
    ("job", "get", lambda w: f"/api/exports/{w['job'].pk}/", None, 200, 200, 404, 401),
    ("job file", "get", lambda w: f"/api/exports/{w['job'].pk}/download/", None, 200, 200, 404, 401),
]
MATRIX = CONSOLE_MATRIX + API_MATRIX  # the route matrix reads the URLs of both


@pytest.mark.parametrize(("who", "method", "url", "body", "status"), list(role_cases(CONSOLE_MATRIX)))
def test_every_console_export_url_answers_each_role(world, cast, who, method, url, body, status):
    response = client_for(cast[who]).get(url(world))
    assert response.status_code == status
    if who == "anonymous":
        assert response["Location"].startswith(reverse("login"))
    is_file = "format=csv" in url(world) or url(world).endswith("/download/")
    if status == 200 and is_file:
        keys = {row["deviceKey"] for row in csv_rows(body_of(response))}
        assert keys == (set() if who == "outsider" else {"inv-0000", "inv-0001", "inv-0002"})


@pytest.mark.parametrize(("who", "method", "url", "body", "status"), list(role_cases(API_MATRIX)))
def test_every_api_export_url_answers_each_role(world, cast, who, method, url, body, status):
    response = api_client_for(cast[who]).get(url(world))
    if status >= 400:
        assert_error(response, status)  # the outsider names Acme: an OU they cannot see
    else:
        assert response.status_code == status
        if not url(world).startswith("/api/exports/") or url(world).endswith("/download/"):
            assert len(csv_rows(body_of(response))) == 3
        else:
            assert response.json()["status"] == "done"


def test_the_api_exports_xlsx_by_default_from_the_users_only_ou(writer, acme, product):
    make_devices(product, 2, "inv")
    response = api_client_for(writer).get("/api/devices/export/?query=inv-0001")
    assert response.status_code == 200, response.content
    assert response["Content-Disposition"].startswith('attachment; filename="devices-')
    books = zip_books(body_of(response))
    assert [row[0].value for row in books[f"{product.product_key}.xlsx"]["Devices"].iter_rows(min_row=3)] \
        == ["inv-0001"]


@pytest.mark.parametrize("url", ["/api/devices/export/?query=status:sleeping", "/api/devices/export/?query=(inv",
                                 "/api/devices/export/?query=attr:capacity>=big"])
def test_a_bad_query_answers_400_with_where_it_went_wrong(writer, acme, product, url):
    response = api_client_for(writer).get(url)
    assert response.status_code == 400, response.content
    body = response.json()
    assert body["code"] == "invalid_query" and body["message"] and body["position"] >= 1


@pytest.mark.parametrize("url", ["/api/devices/export/?format=pdf", "/api/devices/export/?status=sleeping",
                                 "/api/devices/export/?ou=nope"])
def test_bad_parameters_answer_400(writer, acme, url):
    assert_error(api_client_for(writer).get(url), 400)


@pytest.mark.parametrize("query", ["q=status:sleeping", "q=(inv", "format=pdf", "status=sleeping"])
def test_the_console_says_what_is_wrong_with_the_export(writer, acme, product, query):
    client = client_for(writer)
    response = client.get(reverse("assets:device-export") + f"?{query}", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0].startswith(reverse("assets:device-list"))
    assert "Export: " in response.content.decode()
    assert not ExportJob.objects.exists()


def test_a_big_console_export_runs_as_a_job_with_a_page(writer, acme, product, settings, eager_tasks,
                                                        django_capture_on_commit_callbacks):
    settings.EXPORT_SYNC_MAX = 2
    make_devices(product, 5, "inv")
    client = client_for(writer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(reverse("assets:device-export") + "?q=inv&format=xlsx")
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("assets:export-job", args=[job.pk])
    job.refresh_from_db()  # the eager task ran when the request's transaction committed
    assert (job.status, job.progress, job.total, job.query) == (ExportStatus.DONE, 5, 5, "inv")
    page = client.get(response["Location"]).content.decode()
    assert 'id="export-download"' in page and job.filename in page
    fragment = client.get(response["Location"], headers={"HX-Request": "true", "HX-Target": "export-status"})
    assert fragment.content.decode().startswith('<section class="card wide-form" id="export-status"')
    download = client.get(reverse("assets:export-download", args=[job.pk]))
    books = zip_books(body_of(download))
    assert len(list(books[f"{product.product_key}.xlsx"]["Devices"].iter_rows(min_row=3))) == 5


def test_a_running_job_page_polls(writer, acme, product):
    job = ExportJob.objects.create(ou=acme, requested_by=writer, format="csv", total=10)
    page = client_for(writer).get(reverse("assets:export-job", args=[job.pk])).content.decode()
    assert 'hx-trigger="every 1s"' in page and "0 of 10 devices" in page
    assert client_for(writer).get(reverse("assets:export-download", args=[job.pk])).status_code == 404
    assert api_client_for(writer).get(f"/api/exports/{job.pk}/").json()["downloadUrl"] is None


def test_a_big_api_export_answers_202_and_the_job_serves_the_file(writer, acme, product, settings, eager_tasks,
                                                                  django_capture_on_commit_callbacks):
    settings.EXPORT_SYNC_MAX = 2
    make_devices(product, 4, "inv")
    client = api_client_for(writer)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(f"/api/devices/export/?query=inv&format=csv&ou={acme.ou_id}")
    assert response.status_code == 202, response.content
    job_url = response["Location"]
    status = client.get(job_url).json()
    assert (status["status"], status["progress"], status["total"]) == ("done", 4, 4)
    rows = csv_rows(body_of(client.get(status["downloadUrl"])))
    assert sorted(row["deviceKey"] for row in rows) == ["inv-0000", "inv-0001", "inv-0002", "inv-0003"]


def test_a_job_whose_requester_left_fails_in_words(writer, acme, product, settings):
    make_devices(product, 2, "inv")
    job = services.start_job(writer, acme, source=services.API, params={"query": ["inv"]}, query="inv", fmt="csv",
                             total=2)
    writer.is_active = False
    writer.save(update_fields=["is_active"])
    services.run_job(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == (ExportStatus.FAILED, "The user who asked for this export can no longer sign in.")
    assert not (settings.EXPORT_DIR / str(job.pk)).exists()
