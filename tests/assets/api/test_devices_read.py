"""Reading devices: list, details, lookup by keys; the secret never shows."""

from __future__ import annotations

import pytest

from assets.models import Device
from tests.assets.api.helpers import assert_error, asset_ids, results

pytestmark = pytest.mark.django_db


def test_list_shows_the_users_devices_newest_first(api_for, writer, device, gateway, globex_device):
    rows = results(api_for(writer).get("/api/devices/"))
    assert [row["assetId"] for row in rows] == [gateway.asset_id, device.asset_id]


def test_list_row_speaks_enos(api_for, writer, device, product):
    row = results(api_for(writer).get("/api/devices/"))[0]
    assert row["assetId"] == device.asset_id
    assert row["productKey"] == product.product_key
    assert row["deviceKey"] == "inv-0001"
    assert row["ouId"] == device.ou.ou_id
    assert row["productType"] == "Device"
    assert row["assetType"] == "Device"
    assert row["status"] == "inactive"
    assert row["gatewayAssetId"] is None
    assert row["attributes"] == {"serial": "SN-1"}
    assert row["createdAt"] and row["activatedAt"] is None


def test_retrieve_by_asset_id(api_for, viewer, device):
    response = api_for(viewer).get(f"/api/devices/{device.asset_id}/")
    assert response.status_code == 200
    assert response.json()["deviceKey"] == device.device_key


def test_retrieve_by_product_and_device_key(api_for, viewer, device, product):
    response = api_for(viewer).get("/api/devices/by-key/",
                                   {"productKey": product.product_key, "deviceKey": "inv-0001"})
    assert response.status_code == 200
    assert response.json()["assetId"] == device.asset_id


def test_by_key_needs_both_keys(api_for, viewer, device):
    body = assert_error(api_for(viewer).get("/api/devices/by-key/", {"deviceKey": "inv-0001"}), 400,
                        "validation_error")
    assert set(body["details"]) == {"productKey"}


def test_by_key_of_another_ous_device_is_404(api_for, outsider, device, product):
    response = api_for(outsider).get("/api/devices/by-key/",
                                     {"productKey": product.product_key, "deviceKey": "inv-0001"})
    assert_error(response, 404, "not_found")


def test_the_secret_never_shows_in_list_or_details(api_for, writer, device, gateway):
    client = api_for(writer)
    listed = client.get("/api/devices/")
    detail = client.get(f"/api/devices/{device.asset_id}/")
    by_key = client.get("/api/devices/by-key/",
                        {"productKey": device.product.product_key, "deviceKey": device.device_key})
    for response in (listed, detail, by_key):
        assert response.status_code == 200
        assert "deviceSecret" not in response.content.decode()
        assert device.device_secret not in response.content.decode()


def test_sub_device_shows_its_gateway_and_asset_type(api_for, viewer, device, gateway):
    Device.objects.filter(pk=device.pk).update(gateway=gateway)
    row = api_for(viewer).get(f"/api/devices/{device.asset_id}/").json()
    assert row["assetType"] == "Sub-device"
    assert row["gatewayAssetId"] == gateway.asset_id
    assert api_for(viewer).get(f"/api/devices/{gateway.asset_id}/").json()["assetType"] == "Gateway"


def test_token_authentication(writer, device):
    from rest_framework.authtoken.models import Token
    from rest_framework.test import APIClient

    token = Token.objects.create(user=writer)
    client = APIClient()
    assert client.get("/api/devices/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert asset_ids(client.get("/api/devices/")) == {device.asset_id}
    client.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert_error(client.get("/api/devices/"), 401)
