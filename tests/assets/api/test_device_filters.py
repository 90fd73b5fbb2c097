"""Each device filter, named as EnOS names it."""

from __future__ import annotations

import pytest
from django.utils.timezone import now

from accounts.actors import SYSTEM
from accounts.services import set_membership
from assets.models import Device
from tests.assets.api.helpers import assert_error, asset_ids

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet(product, gateway_product, gateway):
    """One device per status, plus a sub-device, with tags and typed attributes."""
    def make(key: str, **fields) -> Device:
        return Device.objects.create(ou=product.ou, product=fields.pop("product", product), device_key=key,
                                     name=fields.pop("name", key.title()), **fields)

    return {
        "inactive": make("inact-1", attributes={"serial": "SN-100", "capacity": 1500.0, "phase": 3},
                         tags={"site": "shanghai", "line": "a,b"}),
        "online": make("online-1", activated_at=now(), online=True, attributes={"serial": "123"},
                       tags={"site": "beijing"}),
        "offline": make("offline-1", activated_at=now(), online=False, tags={"floor": "2"},
                        attributes={"serial": "SN-3", "capacity": 2.5}),
        "disable": make("disabled-1", enabled=False, activated_at=now(), online=True, name="Pump North"),
        "sub": make("sub-1", gateway=gateway),
        "gateway": gateway,
    }


def found(api_for, user, **params) -> set[str]:
    return asset_ids(api_for(user).get("/api/devices/", params))


def ids(fleet, *names) -> set[str]:
    return {fleet[name].asset_id for name in names}


@pytest.mark.parametrize("status", ["inactive", "online", "offline", "disable"])
def test_status(api_for, viewer, fleet, status):
    expected = ids(fleet, status) | (ids(fleet, "sub", "gateway") if status == "inactive" else set())
    assert found(api_for, viewer, status=status) == expected


def test_unknown_status_is_refused(api_for, viewer, fleet):
    body = assert_error(api_for(viewer).get("/api/devices/", {"status": "Disabled"}), 400, "validation_error")
    assert list(body["details"]) == ["status"]


def test_product_key(api_for, viewer, fleet, gateway_product):
    assert found(api_for, viewer, productKey=gateway_product.product_key) == ids(fleet, "gateway")


def test_device_key_and_asset_id(api_for, viewer, fleet):
    assert found(api_for, viewer, deviceKey="online-1") == ids(fleet, "online")
    assert found(api_for, viewer, assetId=fleet["offline"].asset_id) == ids(fleet, "offline")


def test_name_contains_any_case(api_for, viewer, fleet):
    assert found(api_for, viewer, name="pump") == ids(fleet, "disable")


def test_product_type_and_asset_type(api_for, viewer, fleet):
    assert found(api_for, viewer, productType="Gateway") == ids(fleet, "gateway")
    assert found(api_for, viewer, assetType="Gateway") == ids(fleet, "gateway")
    assert found(api_for, viewer, assetType="Sub-device") == ids(fleet, "sub")
    assert found(api_for, viewer, assetType="Device") == ids(fleet, "inactive", "online", "offline", "disable")


def test_tag_key_and_key_value(api_for, viewer, fleet):
    assert found(api_for, viewer, tag="site") == ids(fleet, "inactive", "online")
    assert found(api_for, viewer, tag="site:beijing") == ids(fleet, "online")
    assert found(api_for, viewer, tag="line:a,b") == ids(fleet, "inactive")  # commas are part of values
    assert found(api_for, viewer, tag="site:nowhere") == set()


def test_repeated_tags_must_all_match(api_for, viewer, fleet):
    assert found(api_for, viewer, tag=["site", "line"]) == ids(fleet, "inactive")
    assert found(api_for, viewer, tag=["site:beijing", "line"]) == set()


@pytest.mark.parametrize("key", ["bad key", "a'b", "x\"]", "$.site", ""])
def test_a_tag_key_that_no_tag_can_have_is_refused(api_for, viewer, fleet, key):
    body = assert_error(api_for(viewer).get("/api/devices/", {"tag": f"{key}:v"}), 400, "validation_error")
    assert list(body["details"]) == ["tag"]


def test_attribute_matches_typed_values(api_for, viewer, fleet):
    assert found(api_for, viewer, attribute="serial:SN-100") == ids(fleet, "inactive")
    assert found(api_for, viewer, attribute="capacity:1500") == ids(fleet, "inactive")  # stored as 1500.0
    assert found(api_for, viewer, attribute="capacity:2.5") == ids(fleet, "offline")
    assert found(api_for, viewer, attribute="phase:3") == ids(fleet, "inactive")
    assert found(api_for, viewer, attribute="serial:123") == ids(fleet, "online")  # text that looks numeric
    assert found(api_for, viewer, attribute=["serial:SN-100", "phase:1"]) == set()


def test_attribute_needs_identifier_and_value(api_for, viewer, fleet):
    body = assert_error(api_for(viewer).get("/api/devices/", {"attribute": "serial"}), 400, "validation_error")
    assert "identifier:value" in body["details"]["attribute"][0]


def test_ou_narrows_to_one_ou(api_for, writer, fleet, globex, globex_device):
    set_membership(SYSTEM, globex, writer, "asset_viewer")
    everything = found(api_for, writer)
    assert globex_device.asset_id in everything and fleet["online"].asset_id in everything
    assert found(api_for, writer, ou=globex.ou_id) == {globex_device.asset_id}


def test_ou_the_user_cannot_see_is_refused(api_for, viewer, fleet, globex):
    body = assert_error(api_for(viewer).get("/api/devices/", {"ou": globex.ou_id}), 400, "validation_error")
    assert body["details"] == {"ou": ["Unknown OU, or one you have no access to."]}


def test_filters_combine(api_for, viewer, fleet):
    assert found(api_for, viewer, status="online", tag="site") == ids(fleet, "online")
