"""A gateway's sub-devices: list, add, remove, candidates, and a sub-device's gateway."""

from __future__ import annotations

import pytest

from accounts.models import AuditEvent
from assets.models import Device
from tests.assets.api.helpers import assert_error, asset_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def second(product) -> Device:
    return Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                 attributes={"serial": "SN-2"})


def url(gateway: Device, suffix: str = "") -> str:
    return f"/api/devices/{gateway.asset_id}/sub-devices/{suffix}"


def test_add_then_list(api_for, writer, gateway, device, second):
    client = api_for(writer)
    response = client.post(url(gateway), {"assetIds": [device.asset_id, second.asset_id]})
    assert response.status_code == 200, response.content
    assert response.json() == {"gatewayAssetId": gateway.asset_id, "count": 2,
                               "assetIds": [device.asset_id, second.asset_id]}
    assert asset_ids(client.get(url(gateway))) == {device.asset_id, second.asset_id}
    assert AuditEvent.objects.filter(action="device.sub_devices_add", object_id=gateway.asset_id).exists()


def test_list_of_a_gateway_without_sub_devices_is_empty(api_for, viewer, gateway, device):
    assert asset_ids(api_for(viewer).get(url(gateway))) == set()


def test_adding_a_device_that_belongs_to_a_gateway_is_a_conflict(api_for, writer, gateway, device, second):
    Device.objects.filter(pk=device.pk).update(gateway=gateway)
    error = assert_error(api_for(writer).post(url(gateway), {"assetIds": [device.asset_id, second.asset_id]}),
                         409, "not_eligible")
    assert "inv-0001" in error["message"]
    assert Device.objects.get(pk=second.pk).gateway is None  # all or nothing


def test_only_a_gateway_takes_sub_devices(api_for, writer, device, second):
    assert_error(api_for(writer).post(url(device), {"assetIds": [second.asset_id]}), 400, "not_a_gateway")


def test_unknown_or_hidden_asset_ids_are_named(api_for, writer, gateway, globex_device):
    error = assert_error(api_for(writer).post(url(gateway), {"assetIds": ["nope", globex_device.asset_id]}),
                         400, "validation_error")
    assert error["details"] == {"assetIds": [f"Unknown assetId: nope, {globex_device.asset_id}."]}


def test_asset_ids_must_be_a_non_empty_list(api_for, writer, gateway):
    for body in ({}, {"assetIds": []}, {"assetIds": "abc"}):
        error = assert_error(api_for(writer).post(url(gateway), body), 400, "validation_error")
        assert list(error["details"]) == ["assetIds"]


@pytest.mark.parametrize("how", ["delete", "post"])
def test_remove(api_for, writer, gateway, device, second, how):
    Device.objects.filter(pk__in=[device.pk, second.pk]).update(gateway=gateway)
    client = api_for(writer)
    body = {"assetIds": [device.asset_id]}
    response = client.delete(url(gateway), body) if how == "delete" else client.post(url(gateway, "remove/"), body)
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 1
    assert asset_ids(client.get(url(gateway))) == {second.asset_id}


def test_removing_a_device_that_is_not_a_sub_device_is_a_conflict(api_for, writer, gateway, device):
    assert_error(api_for(writer).post(url(gateway, "remove/"), {"assetIds": [device.asset_id]}), 409,
                 "not_a_sub_device")


def test_candidates_are_free_device_type_devices(api_for, viewer, gateway, device, second):
    Device.objects.filter(pk=second.pk).update(gateway=gateway)
    assert asset_ids(api_for(viewer).get(url(gateway, "candidates/"))) == {device.asset_id}


def test_candidates_of_a_non_gateway(api_for, viewer, device):
    assert_error(api_for(viewer).get(url(device, "candidates/")), 400, "not_a_gateway")


def test_gateway_of_a_sub_device(api_for, viewer, gateway, device):
    Device.objects.filter(pk=device.pk).update(gateway=gateway)
    response = api_for(viewer).get(f"/api/devices/{device.asset_id}/gateway/")
    assert response.status_code == 200
    assert response.json()["assetId"] == gateway.asset_id


def test_gateway_of_a_device_without_one(api_for, viewer, device):
    error = assert_error(api_for(viewer).get(f"/api/devices/{device.asset_id}/gateway/"), 404, "no_gateway")
    assert "has no gateway" in error["message"]


def test_sub_device_list_queries_do_not_grow(api_for, writer, gateway, product, django_assert_num_queries):
    Device.objects.bulk_create([
        Device(ou=product.ou, product=product, device_key=f"s-{n:04d}", name=f"S{n}", gateway=gateway)
        for n in range(60)
    ])
    client = api_for(writer)
    for size in (5, 50):
        # session, user, OU grants, the gateway, the page
        with django_assert_num_queries(5):
            assert len(client.get(url(gateway), {"pageSize": size}).json()["results"]) == size
