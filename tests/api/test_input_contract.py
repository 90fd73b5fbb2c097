"""What the API takes, as its schema states it: JSON bodies without unknown fields or NUL characters,
whole-number parameters in ASCII digits, sub-devices removed by a query; and what the schema says of it."""

from __future__ import annotations

import pytest
from django.db import connection
from rest_framework.test import APIClient

from assets.models import Device
from tests.assets.api.helpers import api_client_for, assert_error

pytestmark = pytest.mark.django_db


@pytest.fixture
def client(writer, acme) -> APIClient:
    client = api_client_for(writer)
    client.raise_request_exception = False
    return client


@pytest.fixture
def schema(client) -> dict:
    return client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()


def test_bodies_are_json_only(client, device):
    response = client.patch(f"/api/devices/{device.asset_id}/", {"name": "x"}, format="multipart")
    assert_error(response, 415, "unsupported_media_type")
    assert Device.objects.get(pk=device.pk).name == device.name


NUL_BODIES = [{"name": "a\x00b"}, {"tags": {"site\x00": "x"}}, {"attributes": {"serial": ["\x00"]}}]


@pytest.mark.parametrize("body", NUL_BODIES)
def test_a_nul_character_anywhere_in_a_body_is_refused(client, device, body):
    body = assert_error(client.patch(f"/api/devices/{device.asset_id}/", body, format="json"), 400, "parse_error")
    assert "NUL" in body["message"]
    assert Device.objects.get(pk=device.pk).name == "Inverter 1"


@pytest.mark.parametrize("path", ["/api/models/inverter/?ou=o%00", "/api/devices/?name=a%00",
                                  "/api/devices/?tag=a:b%00", "/api/devices/?attribute=serial:%00"])
def test_a_nul_character_in_a_filter_is_a_bad_request(client, thing_model, path):
    assert_error(client.get(path), 400)


@pytest.mark.parametrize("path", ["/api/devices/a%00b/", "/api/devices/by-key/?productKey=a%00&deviceKey=b",
                                  "/api/products/a%00/", "/api/devices/a%00b/traces/"])
def test_a_nul_character_in_an_identifier_finds_nothing(client, path):
    # SQLite stores NULs, so the lookup finds nothing; PostgreSQL stores none and refuses the query
    assert_error(client.get(path), 404 if connection.vendor == "sqlite" else 400)


@pytest.mark.parametrize("size", ["%C2%B2", "%D9%A3", "-1", "1.5", "201"])
def test_page_sizes_are_whole_numbers_in_ascii_digits(client, size):
    body = assert_error(client.get(f"/api/devices/?pageSize={size}"), 400, "validation_error")
    assert list(body["details"]) == ["pageSize"]


def test_trace_log_paging_refuses_a_superscript(client, device):
    trace = client.post(f"/api/devices/{device.asset_id}/traces/", {"duration": 60}, format="json").json()
    body = assert_error(client.get(f"/api/traces/{trace['id']}/logs/?after=%C2%B2"), 400, "validation_error")
    assert list(body["details"]) == ["after"]


def test_sub_devices_are_removed_by_a_query(client, gateway, device, product):
    second = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                   attributes={"serial": "SN-2"})
    Device.objects.filter(pk__in=[device.pk, second.pk]).update(gateway=gateway)
    response = client.delete(f"/api/devices/{gateway.asset_id}/sub-devices/?assetIds={device.asset_id}")
    assert response.status_code == 200, response.content
    assert response.json()["assetIds"] == [device.asset_id]
    assert Device.objects.get(pk=device.pk).gateway is None
    assert Device.objects.get(pk=second.pk).gateway == gateway


def test_removing_sub_devices_names_them(client, gateway):
    body = assert_error(client.delete(f"/api/devices/{gateway.asset_id}/sub-devices/"), 400, "validation_error")
    assert list(body["details"]) == ["assetIds"]


def test_the_schema_states_what_the_api_checks(schema):
    components = schema["components"]["schemas"]
    for name in ("DeviceCreate", "PatchedDeviceUpdate", "AssetIds", "MigrationCreate", "ThingModelCreate"):
        assert components[name]["additionalProperties"] is False, name
    assert components["DeviceCreate"]["properties"]["deviceKey"]["pattern"] == "^[A-Za-z0-9_.:-]{4,64}$"
    assert components["Device"]["properties"]["activatedAt"]["nullable"] is True
    devices = schema["paths"]["/api/devices/"]
    assert "400" in devices["get"]["responses"]
    assert list(devices["post"]["requestBody"]["content"]) == ["application/json"]
    page_size = next(p for p in devices["get"]["parameters"] if p["name"] == "pageSize")
    assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"]) == (1, 200)
    remove = schema["paths"]["/api/devices/{assetId}/sub-devices/"]["delete"]
    assert any(p["name"] == "assetIds" and p["in"] == "query" and p["required"] for p in remove["parameters"])
    assert "404" in schema["paths"]["/api/devices/{asset_id}/latest-data/"]["get"]["responses"]


def test_an_error_inside_a_list_names_the_item(client, thing_model):
    response = client.patch("/api/models/inverter/", {"attributes": [{"identifier": "ok"}, "not an object"]},
                            format="json")
    body = assert_error(response, 400, "validation_error")
    assert list(body["details"]) == ["attributes.1"]
    assert body["message"] == body["details"]["attributes.1"][0]
    assert "ErrorDetail" not in body["message"]
