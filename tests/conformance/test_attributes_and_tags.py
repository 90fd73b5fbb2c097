"""Attributes (thing.attribute.query/update/delete) and tags (thing.tag.query/update/delete) as the SDK
sends them: they are the device's attributes and tags in Device Assets."""

from __future__ import annotations

import pytest
from enos.message.upstream.status.SubDeviceLoginRequest import SubDeviceLoginRequest
from enos.message.upstream.tag.TagDeleteRequest import TagDeleteRequest
from enos.message.upstream.tag.TagQueryRequest import TagQueryRequest
from enos.message.upstream.tag.TagUpdateRequest import TagUpdateRequest
from enos.message.upstream.tsl.AttributeDeleteRequest import AttributeDeleteRequest
from enos.message.upstream.tsl.AttributeQueryRequest import AttributeQueryRequest
from enos.message.upstream.tsl.AttributeUpdateRequest import AttributeUpdateRequest

from assets.models import Device

from .conftest import make_sub_devices

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]


def fresh(device: Device) -> Device:
    return Device.objects.get(pk=device.pk)


def ok(response) -> None:
    assert response.get_code() == 200, (response.get_code(), response.get_message())


def test_attributes_update_query_and_delete_the_device_attributes(sdk, device):
    client = sdk.connected(device)
    ok(client.publish(AttributeUpdateRequest.builder().add_attribute("capacity", 250.5)
                      .add_attribute("phase", "3").build()))
    # an enum's key is kept as the number it names, as the console and batch updates keep it
    assert fresh(device).attributes == {"serial": "SN-1", "capacity": 250.5, "phase": 3}

    some = client.publish(AttributeQueryRequest.builder().add_attributes(["capacity", "serial"]).build())
    ok(some)
    assert some.get_data() == {"capacity": 250.5, "serial": "SN-1"}
    everything = client.publish(AttributeQueryRequest.builder().query_all().build())
    ok(everything)
    assert everything.get_data() == {"serial": "SN-1", "capacity": 250.5, "phase": 3}

    ok(client.publish(AttributeDeleteRequest.builder().delete_attributes(["capacity", "phase"]).build()))
    assert fresh(device).attributes == {"serial": "SN-1"}


def test_an_attribute_that_does_not_fit_the_model_is_refused_and_changes_nothing(sdk, device):
    client = sdk.connected(device)
    response = client.publish(AttributeUpdateRequest.builder().add_attribute("capacity", "lots").build())
    assert response.get_code() == 1204, (response.get_code(), response.get_message())  # Model validate failed
    assert fresh(device).attributes == {"serial": "SN-1"}


def test_tags_update_query_and_delete_the_device_tags(sdk, device):
    client = sdk.connected(device)
    ok(client.publish(TagUpdateRequest.builder().add_tags({"site": "north", "row": 30}).build()))
    assert fresh(device).tags == {"site": "north", "row": "30"}  # EnOS tag values are strings

    some = client.publish(TagQueryRequest.builder().add_key("site").build())
    ok(some)
    assert some.get_data() == {"site": "north"}
    everything = client.publish(TagQueryRequest.builder().query_all().build())
    ok(everything)
    assert everything.get_data() == {"site": "north", "row": "30"}

    ok(client.publish(TagDeleteRequest.builder().delete_tag_key("row").build()))
    assert fresh(device).tags == {"site": "north"}


def test_a_sub_device_attributes_and_tags_go_through_its_gateway(sdk, gateway, product):
    (sub,) = make_sub_devices(gateway, product, "sub-attrs")
    client = sdk.connected(gateway)
    ok(client.publish(SubDeviceLoginRequest.builder().set_sub_device_info(
        product.product_key, sub.device_key, sub.device_secret).build()))
    where = {"product_key": product.product_key, "device_key": sub.device_key}
    ok(client.publish(AttributeUpdateRequest.builder().add_attribute("capacity", 10.0)
                      .set_product_key(where["product_key"]).set_device_key(where["device_key"]).build()))
    ok(client.publish(TagUpdateRequest.builder().add_tag("bay", "7")
                      .set_product_key(where["product_key"]).set_device_key(where["device_key"]).build()))
    assert fresh(sub).attributes["capacity"] == 10.0
    assert fresh(sub).tags == {"bay": "7"}
    assert "capacity" not in fresh(gateway).attributes and fresh(gateway).tags == {}
