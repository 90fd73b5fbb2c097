"""Creating, changing and deleting devices; enable/disable; the triple."""

from __future__ import annotations

import pytest

from accounts.actors import SYSTEM
from accounts.models import AuditEvent
from assets import services
from assets.models import Device, ProductType
from tests.assets.api.helpers import assert_error

pytestmark = pytest.mark.django_db


def create_body(acme, product, **fields) -> dict:
    return {"ouId": acme.ou_id, "productKey": product.product_key, "name": "Inverter 9",
            "attributes": {"serial": "SN-9"}, **fields}


# --- create -----------------------------------------------------------------------------------------

def test_create_generates_the_device_key_and_returns_the_triple(api_for, writer, acme, product):
    response = api_for(writer).post("/api/devices/", create_body(acme, product))
    assert response.status_code == 201, response.content
    body = response.json()
    device = Device.objects.get(asset_id=body["assetId"])
    assert body["deviceKey"] == device.device_key and len(device.device_key) >= 4
    assert body["productKey"] == product.product_key
    assert body["deviceSecret"] == device.device_secret and len(device.device_secret) == 20
    assert body["status"] == "inactive" and body["ouId"] == acme.ou_id


def test_create_with_every_field(api_for, writer, acme, product):
    body = create_body(acme, product, deviceKey="inv-0042", description="roof", timezone="Asia/Shanghai",
                       tags={"site": "sh"}, attributes={"serial": "SN-42", "capacity": 10, "phase": "3"})
    response = api_for(writer).post("/api/devices/", body)
    assert response.status_code == 201, response.content
    device = Device.objects.get(asset_id=response.json()["assetId"])
    assert (device.device_key, device.description, device.timezone) == ("inv-0042", "roof", "Asia/Shanghai")
    assert device.tags == {"site": "sh"}
    assert device.attributes == {"serial": "SN-42", "capacity": 10.0, "phase": 3}
    assert AuditEvent.objects.filter(action="device.create", object_id=device.asset_id, actor=writer).exists()


def test_create_with_a_product_shared_to_the_ou(api_for, outsider, globex, product):
    services.share_product(product.ou.owner, product, globex)
    response = api_for(outsider).post("/api/devices/", create_body(globex, product))
    assert response.status_code == 201, response.content
    assert Device.objects.get(asset_id=response.json()["assetId"]).ou == globex


def test_create_validation_errors_name_each_field(api_for, writer, acme, product):
    body = create_body(acme, product, deviceKey="a b", timezone="+25:00", tags={"bad key": "x"},
                       attributes={"capacity": "lots"})
    error = assert_error(api_for(writer).post("/api/devices/", body), 400, "validation_error")
    assert set(error["details"]) == {"deviceKey", "timezone", "tags", "attributes"}
    assert "not a valid time zone" in error["details"]["timezone"][0]
    assert any("serial" in message for message in error["details"]["attributes"])  # required, missing
    assert not Device.objects.filter(name="Inverter 9").exists()


def test_create_type_errors_come_from_the_serializer(api_for, writer, acme, product):
    body = create_body(acme, product, tags=["site"], name=None)
    error = assert_error(api_for(writer).post("/api/devices/", body), 400, "validation_error")
    assert set(error["details"]) == {"tags", "name"}


def test_create_refuses_fields_it_does_not_take(api_for, writer, acme, product):
    body = create_body(acme, product, deviceSecret="chosen-by-me", enabled=False)
    error = assert_error(api_for(writer).post("/api/devices/", body), 400, "validation_error")
    assert set(error["details"]) == {"deviceSecret", "enabled"}


def test_create_needs_an_ou(api_for, writer, acme, product):
    body = create_body(acme, product)
    del body["ouId"]
    error = assert_error(api_for(writer).post("/api/devices/", body), 400, "validation_error")
    assert list(error["details"]) == ["ouId"]


def test_create_with_an_unknown_or_hidden_product(api_for, writer, acme, globex_device):
    for product_key in ("nope", globex_device.product.product_key):
        body = {"ouId": acme.ou_id, "productKey": product_key, "name": "X"}
        error = assert_error(api_for(writer).post("/api/devices/", body), 400, "validation_error")
        assert list(error["details"]) == ["productKey"]


def test_create_with_a_visible_product_not_usable_in_the_ou(api_for, writer, acme, globex, product):
    # the writer sees acme's product, but it is not shared to globex
    from accounts.services import set_membership

    set_membership(SYSTEM, globex, writer, "asset_manager")
    error = assert_error(api_for(writer).post("/api/devices/", create_body(globex, product)), 400,
                         "product_not_found")
    assert list(error["details"]) == ["productKey"]


def test_create_with_a_taken_device_key_is_409(api_for, writer, acme, product, device):
    error = assert_error(api_for(writer).post("/api/devices/", create_body(acme, product, deviceKey="inv-0001")),
                         409, "device_key_exists")
    assert list(error["details"]) == ["deviceKey"]


# --- update -------------------------------------------------------------------------------------------

def test_patch_changes_the_given_fields(api_for, writer, device):
    response = api_for(writer).patch(f"/api/devices/{device.asset_id}/",
                                     {"name": "Renamed", "description": "d", "timezone": "-03:30"})
    assert response.status_code == 200, response.content
    assert response.json()["name"] == "Renamed"
    device.refresh_from_db()
    assert (device.name, device.description, device.timezone) == ("Renamed", "d", "-03:30")
    assert AuditEvent.objects.filter(action="device.update", object_id=device.asset_id).exists()


def test_patch_merges_attributes_and_tags_and_null_removes(api_for, writer, device):
    Device.objects.filter(pk=device.pk).update(tags={"site": "sh", "floor": "2"})
    response = api_for(writer).patch(f"/api/devices/{device.asset_id}/", {
        "attributes": {"capacity": 12}, "tags": {"floor": None, "line": "b"}})
    assert response.status_code == 200, response.content
    device.refresh_from_db()
    assert device.attributes == {"serial": "SN-1", "capacity": 12.0}
    assert device.tags == {"site": "sh", "line": "b"}


def test_patch_validation_error_names_the_field(api_for, writer, device):
    error = assert_error(api_for(writer).patch(f"/api/devices/{device.asset_id}/", {"attributes": {"phase": 7}}),
                         400, "validation_error")
    assert list(error["details"]) == ["attributes"]
    assert "phase" in error["details"]["attributes"][0]


def test_patch_refuses_fields_that_cannot_change(api_for, writer, device):
    error = assert_error(api_for(writer).patch(f"/api/devices/{device.asset_id}/",
                                               {"deviceKey": "new-key", "name": "X"}), 400, "validation_error")
    assert error["details"] == {"deviceKey": ["This field cannot be set here."]}
    device.refresh_from_db()
    assert device.name == "Inverter 1"


def test_put_is_not_offered(api_for, writer, device):
    assert_error(api_for(writer).put(f"/api/devices/{device.asset_id}/", {"name": "X"}), 405)


# --- delete, enable/disable --------------------------------------------------------------------------

def test_delete(api_for, writer, device):
    assert api_for(writer).delete(f"/api/devices/{device.asset_id}/").status_code == 204
    assert not Device.objects.filter(pk=device.pk).exists()


def test_disable_then_enable(api_for, writer, device):
    client = api_for(writer)
    response = client.post(f"/api/devices/{device.asset_id}/disable/")
    assert response.status_code == 200 and response.json()["status"] == "disable"
    response = client.post(f"/api/devices/{device.asset_id}/enable/")
    assert response.status_code == 200 and response.json()["status"] == "inactive"


def test_repeated_disable_is_a_conflict(api_for, writer, device):
    client = api_for(writer)
    client.post(f"/api/devices/{device.asset_id}/disable/")
    error = assert_error(client.post(f"/api/devices/{device.asset_id}/disable/"), 409, "already_disabled")
    assert error["message"] == "Device inv-0001 is already disabled."


def test_enabling_an_enabled_device_is_a_conflict(api_for, writer, device):
    error = assert_error(api_for(writer).post(f"/api/devices/{device.asset_id}/enable/"), 409, "already_enabled")
    assert "already enabled" in error["message"]


# --- the triple ------------------------------------------------------------------------------------

def test_secret_shows_the_triple_and_is_audited(api_for, writer, device):
    response = api_for(writer).get(f"/api/devices/{device.asset_id}/secret/")
    assert response.status_code == 200
    assert response.json() == {"assetId": device.asset_id, "productKey": device.product.product_key,
                               "deviceKey": "inv-0001", "deviceSecret": device.device_secret}
    assert AuditEvent.objects.filter(action="device.secret_reveal", object_id=device.asset_id,
                                     actor=writer).count() == 1


def test_viewer_cannot_read_the_secret(api_for, viewer, device):
    error = assert_error(api_for(viewer).get(f"/api/devices/{device.asset_id}/secret/"), 403, "permission_denied")
    assert device.device_secret not in str(error)
    assert not AuditEvent.objects.filter(action="device.secret_reveal").exists()


def test_reset_secret_gives_a_new_one(api_for, writer, device):
    old = device.device_secret
    response = api_for(writer).post(f"/api/devices/{device.asset_id}/reset-secret/")
    assert response.status_code == 200
    device.refresh_from_db()
    assert response.json()["deviceSecret"] == device.device_secret != old


def test_a_gateway_products_device_is_a_gateway(api_for, writer, acme, gateway_product):
    response = api_for(writer).post("/api/devices/", create_body(acme, gateway_product))
    assert response.status_code == 201
    assert response.json()["assetType"] == "Gateway"
    assert response.json()["productType"] == ProductType.GATEWAY


# --- access is judged before the body ---------------------------------------------------------------

def test_a_viewer_with_a_bad_body_learns_only_that_they_cannot_write(api_for, viewer, device, acme):
    client = api_for(viewer)
    assert_error(client.patch(f"/api/devices/{device.asset_id}/", {"timezone": "+99:00"}), 403, "permission_denied")
    assert_error(client.post("/api/devices/", {"ouId": acme.ou_id, "name": None}), 403, "permission_denied")


def test_an_outsider_with_a_bad_body_finds_nothing(api_for, outsider, device, acme):
    client = api_for(outsider)
    assert_error(client.patch(f"/api/devices/{device.asset_id}/", {"timezone": "+99:00"}), 404, "not_found")
    assert_error(client.post("/api/devices/", {"ouId": acme.ou_id, "name": None}), 404, "not_found")
