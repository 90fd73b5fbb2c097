"""Requests that once answered 500 (issue #13): each now gets a clear answer, and /api/ never answers HTML
unless HTML was asked for (the browsable API)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from enos_portal.api import server_error
from tests.assets.api.helpers import api_client_for, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(writer, acme) -> APIClient:
    client = api_client_for(writer)
    client.raise_request_exception = False  # a crash must show as the 500 a client would see
    return client


def test_the_browsable_api_renders_the_device_list_with_its_filter_form(client, device):
    response = client.get("/api/devices/", {"tag": ["site:a", "line"]}, HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    page = response.content.decode()
    assert device.asset_id not in page  # filtered out: it has no such tags
    # one box per given tag value, and an empty one to add another
    assert 'name="tag" value="site:a"' in page
    assert 'name="tag" value="line"' in page


@pytest.mark.parametrize("query", ["attribute=%25s", "attribute=%25(x)s:1", "tag=x%25", "tag=%25d:1"])
def test_a_percent_sign_in_a_filter_key_is_a_bad_parameter(client, gateway, query):
    for path in ("/api/devices/", f"/api/devices/{gateway.asset_id}/sub-devices/"):
        body = assert_error(client.get(f"{path}?{query}"), 400, "validation_error")
        name = query.split("=")[0]
        assert "%" in body["details"][name][0], body


def test_an_attribute_filter_without_a_value_says_how_to_write_one(client):
    body = assert_error(client.get("/api/devices/?attribute=serial"), 400, "validation_error")
    assert body["details"]["attribute"] == ['Use attribute identifier:value, got "serial".']


@pytest.mark.parametrize("duration", [10_000_000_000_000_000_000, -10_000_000_000_000_000_000, 259_201])
def test_a_huge_trace_duration_is_refused_not_a_crash(client, device, duration):
    response = client.post(f"/api/devices/{device.asset_id}/traces/", {"duration": duration}, format="json")
    body = assert_error(response, 400, "validation_error")
    assert body["details"]["duration"] == ["The trace duration must be between 1 minute and 3 days."]


def test_a_huge_extension_of_a_trace_is_refused_not_a_crash(client, device):
    trace = client.post(f"/api/devices/{device.asset_id}/traces/", {"duration": 60}, format="json").json()
    response = client.post(f"/api/traces/{trace['id']}/extend/", {"duration": 10**19}, format="json")
    assert_error(response, 400, "validation_error")


@pytest.mark.parametrize("method, path", [
    ("get", "/api/devices/{asset_id}/secret.json"),
    ("post", "/api/devices/{asset_id}/enable.json"),
    ("post", "/api/devices.json"),
])
def test_format_suffix_urls_are_a_json_404(client, device, method, path):
    response = getattr(client, method)(path.format(asset_id=device.asset_id), {}, format="json")
    body = assert_error(response, 404, "not_found")
    assert "/api/schema/" in body["message"]


def test_the_format_is_chosen_by_the_query_instead(client, device):
    response = client.get(f"/api/devices/{device.asset_id}/secret/?format=json")
    assert response.status_code == 200
    assert response.json()["deviceSecret"] == device.device_secret


@pytest.mark.parametrize("path", ["/api/nothing/", "/api/traces/not-a-number/", "/api/batch/jobs/x/",
                                  "/api/migrations/abc/", "/api/devices/a/b/c/d/"])
def test_an_unknown_api_path_is_a_json_404(client, path):
    for accept in ("application/json", "*/*", "text/html"):
        response = client.get(path, HTTP_ACCEPT=accept)
        assert response["Content-Type"] == "application/json"
        assert_error(response, 404, "not_found")


def test_an_unknown_api_path_needs_no_login():
    assert_error(APIClient().get("/api/nothing/"), 404, "not_found")


def test_a_read_without_the_trailing_slash_is_redirected_as_before(client):
    response = client.get("/api/devices?pageSize=5")
    assert response.status_code == 301
    assert response["Location"] == "/api/devices/?pageSize=5"


def test_a_write_without_the_trailing_slash_is_told_the_right_url(client, acme, product):
    response = client.post("/api/devices", {"ouId": acme.ou_id, "productKey": product.product_key, "name": "x"})
    body = assert_error(response, 404, "not_found")
    assert "/api/devices/" in body["message"]


def test_the_schema_and_its_docs_are_still_served(client):
    assert client.get("/api/schema/").status_code == 200
    assert client.get("/api/docs/").status_code == 200


def test_an_unexpected_crash_under_the_api_answers_json(client, monkeypatch):
    from assets.api import views

    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.DeviceViewSet, "list", crash)
    response = client.get("/api/devices/")
    assert response.status_code == 500
    assert response.json() == {"code": "server_error", "message": "Server error: the request was not completed.",
                               "details": {}}


def test_a_crash_in_the_console_still_answers_its_html_page(rf):
    response = server_error(rf.get("/devices/"))
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/", "/api/devices/", "/api/products/", "/api/models/", "/api/batch/jobs/",
                                  "/api/devices/{asset_id}/", "/api/devices/{asset_id}/traces/",
                                  "/api/devices/{asset_id}/latest-data/", "/api/models/inverter/",
                                  "/api/devices/{gateway_id}/sub-devices/?tag=site&attribute=serial:1"])
def test_every_browsable_page_renders(client, device, gateway, thing_model, path):
    response = client.get(path.format(asset_id=device.asset_id, gateway_id=gateway.asset_id), HTTP_ACCEPT="text/html")
    assert response.status_code == 200, response.content[:500]
    assert response["Content-Type"].startswith("text/html")
