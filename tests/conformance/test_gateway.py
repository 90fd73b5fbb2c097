"""A gateway on the SDK: combine.login / login.batch / logout, the topology (thing.topo.add/get/delete),
registering sub-devices (thing.device.register), thing.tsltemplate.get, and the combine.disable /
enable / delete notices it receives when the portal disables, enables or deletes a logged-in
sub-device."""

from __future__ import annotations

import pytest
from enos.core.util.StringI18n import StringI18n
from enos.message.downstream.device.SubDeviceDeleteCommand import SubDeviceDeleteCommand
from enos.message.downstream.device.SubDeviceDeleteReply import SubDeviceDeleteReply
from enos.message.downstream.device.SubDeviceDisableCommand import SubDeviceDisableCommand
from enos.message.downstream.device.SubDeviceDisableReply import SubDeviceDisableReply
from enos.message.downstream.device.SubDeviceEnableCommand import SubDeviceEnableCommand
from enos.message.downstream.device.SubDeviceEnableReply import SubDeviceEnableReply
from enos.message.upstream.register.DeviceRegisterRequest import DeviceRegisterRequest
from enos.message.upstream.status.SubDeviceLoginBatchRequest import SubDeviceLoginBatchRequest
from enos.message.upstream.status.SubDeviceLoginRequest import SubDeviceLoginRequest
from enos.message.upstream.status.SubDeviceLogoutRequest import SubDeviceLogoutRequest
from enos.message.upstream.topo.SubDeviceInfo import SubDeviceInfo
from enos.message.upstream.topo.TopoAddRequest import TopoAddRequest
from enos.message.upstream.topo.TopoDeleteRequest import TopoDeleteRequest
from enos.message.upstream.topo.TopoGetRequest import TopoGetRequest
from enos.message.upstream.tsl.TslTemplateGetRequest import TslTemplateGetRequest

from assets import services as asset_services
from assets.models import Device, DeviceStatus, Product
from tests.connectivity.mqtt_client import NOT_AUTHORIZED
from tests.waiting import wait_for

from .conftest import WAIT, Inbox, make_device, make_sub_devices, status_of

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]


def login_request(sub: Device, secret: str | None = None):
    return SubDeviceLoginRequest.builder().set_sub_device_info(
        sub.product.product_key, sub.device_key, secret or sub.device_secret).build()


def identity(device: Device) -> dict:
    return {"productKey": device.product.product_key, "deviceKey": device.device_key}


def test_combine_login_and_logout(sdk, gateway, product):
    (sub,) = make_sub_devices(gateway, product, "sub-1")
    client = sdk.connected(gateway)
    response = client.publish(login_request(sub))
    assert response.get_code() == 200, response.get_message()
    assert (response.get_sub_product_key(), response.get_sub_device_key()) == (product.product_key, sub.device_key)
    assert response.get_data()["assetId"] == sub.asset_id
    wait_for(lambda: status_of(sub) == DeviceStatus.ONLINE, WAIT)
    response = client.publish(SubDeviceLogoutRequest.builder().set_sub_product_key(product.product_key)
                              .set_sub_device_key(sub.device_key).build())
    assert response.get_code() == 200, response.get_message()
    assert (response.get_sub_product_key(), response.get_sub_device_key()) == (product.product_key, sub.device_key)
    wait_for(lambda: status_of(sub) == DeviceStatus.OFFLINE, WAIT)
    assert status_of(gateway) == DeviceStatus.ONLINE


def test_combine_login_refusals_carry_the_enos_codes(sdk, gateway, product, device, writer):
    sub, disabled = make_sub_devices(gateway, product, "sub-ok", "sub-off")
    asset_services.disable_device(writer, disabled)
    ghost = Device(product=product, device_key="no-such-device", device_secret="x" * 16)
    client = sdk.connected(gateway)
    cases = [(login_request(ghost), 705), (login_request(disabled), 723), (login_request(device), 740),
             (login_request(sub, secret="wrong-secret"), 742)]
    for request, code in cases:
        response = client.publish(request)
        assert response.get_code() == code, (request.get_params()["deviceKey"], response.get_code(),
                                             response.get_message())
    assert status_of(sub) == DeviceStatus.INACTIVE and status_of(device) == DeviceStatus.INACTIVE


def test_a_sub_device_cannot_connect_directly(sdk, gateway, product):
    (sub,) = make_sub_devices(gateway, product, "sub-direct")
    client, connack = sdk.refused(sub)
    assert connack == NOT_AUTHORIZED
    assert not client.is_connected()  # 771 "Sub device cannot connect to mqtt broker directly"
    assert status_of(sub) == DeviceStatus.INACTIVE


def test_combine_login_batch_signs_with_seconds_and_reports_each_sub_device(sdk, gateway, product):
    sub_a, sub_b = make_sub_devices(gateway, product, "sub-a", "sub-b")
    client = sdk.connected(gateway)
    builder = SubDeviceLoginBatchRequest.builder()
    for sub in (sub_a, sub_b):
        builder.add_sub_device_info(product.product_key, sub.device_key, sub.device_secret)
    request = builder.build()
    assert "." in request.get_params()["timestamp"]  # seconds with decimals, as the SDK sends it
    response = client.publish(request)
    assert response.get_code() == 200, response.get_message()
    logged_in = response.get_data()["loginedSubDevices"]
    assert sorted(item["deviceKey"] for item in logged_in) == ["sub-a", "sub-b"]
    assert {item["assetId"] for item in logged_in} == {sub_a.asset_id, sub_b.asset_id}
    assert response.get_data()["failedSubDevices"] == []
    wait_for(lambda: status_of(sub_a) == status_of(sub_b) == DeviceStatus.ONLINE, WAIT)


def test_combine_login_batch_with_a_disabled_sub_device_logs_in_the_others(sdk, gateway, product, writer):
    good, disabled = make_sub_devices(gateway, product, "sub-good", "sub-disabled")
    asset_services.disable_device(writer, disabled)
    client = sdk.connected(gateway)
    builder = SubDeviceLoginBatchRequest.builder()
    for sub in (good, disabled):
        builder.add_sub_device_info(product.product_key, sub.device_key, sub.device_secret)
    response = client.publish(builder.build())
    assert response.get_code() == 723, (response.get_code(), response.get_message())  # the first failure's code
    assert [item["deviceKey"] for item in response.get_data()["loginedSubDevices"]] == ["sub-good"]
    assert response.get_data()["failedSubDevices"] == [identity(disabled)]
    assert "Device is disable" in response.get_message()
    wait_for(lambda: status_of(good) == DeviceStatus.ONLINE, WAIT)
    assert status_of(disabled) == DeviceStatus.DISABLED


def test_topology_add_get_and_delete(sdk, gateway, product):
    free = make_device(product, "free-1")
    client = sdk.connected(gateway)
    response = client.publish(TopoAddRequest.builder().add_sub_device(
        SubDeviceInfo(product.product_key, free.device_key, free.device_secret)).build())
    assert response.get_code() == 200, response.get_message()
    assert Device.objects.get(pk=free.pk).gateway_id == gateway.pk  # on the gateway's Sub-device tab
    response = client.publish(TopoGetRequest.builder().build())
    assert response.get_code() == 200, response.get_message()
    assert response.get_data() == [identity(free)]
    response = client.publish(TopoDeleteRequest.builder().delete_sub_device(product.product_key,
                                                                            free.device_key).build())
    assert response.get_code() == 200, response.get_message()
    assert Device.objects.get(pk=free.pk).gateway_id is None
    assert client.publish(TopoGetRequest.builder().build()).get_data() == []


def test_topology_add_with_a_wrong_sign_is_refused(sdk, gateway, product):
    free = make_device(product, "free-2")
    client = sdk.connected(gateway)
    response = client.publish(TopoAddRequest.builder().add_sub_device(
        SubDeviceInfo(product.product_key, free.device_key, "wrong-secret")).build())
    assert response.get_code() == 1255, (response.get_code(), response.get_message())  # add topo failure
    assert Device.objects.get(pk=free.pk).gateway_id is None


def test_an_online_sub_device_cannot_be_removed_from_the_topology(sdk, gateway, product):
    (sub,) = make_sub_devices(gateway, product, "sub-online")
    client = sdk.connected(gateway)
    assert client.publish(login_request(sub)).get_code() == 200
    response = client.publish(TopoDeleteRequest.builder().delete_sub_device(product.product_key,
                                                                            sub.device_key).build())
    assert response.get_code() == 1256, (response.get_code(), response.get_message())  # sub-device is online
    assert Device.objects.get(pk=sub.pk).gateway_id == gateway.pk


def registrable_product(acme, thing_model) -> Product:
    return Product.objects.create(ou=acme, name="Registrable", model=thing_model, dynamic_activation=True)


def test_a_gateway_registers_sub_devices_that_appear_inactive_in_its_ou(sdk, gateway, acme, thing_model):
    registrable = registrable_product(acme, thing_model)
    name = StringI18n("Meter one")
    name.set_localized_value("zh_CN", "电表一")
    request = (DeviceRegisterRequest.builder()
               .add_register_information(registrable.product_key, "meter-1", name, "first meter", "+08:00",
                                         {"serial": "M-1"})
               .add_register_information(registrable.product_key, "", StringI18n("Meter two"), "", "+01:00",
                                         {"serial": "M-2"}))
    client = sdk.connected(gateway)
    response = client.publish(request.build())
    assert response.get_code() == 200, response.get_message()
    data = response.get_data()
    assert [item["productKey"] for item in data] == [registrable.product_key] * 2
    assert data[0]["deviceKey"] == "meter-1" and data[1]["deviceKey"]  # a key is generated when none is given
    for item in data:
        created = Device.objects.get(product=registrable, device_key=item["deviceKey"])
        assert (created.asset_id, created.device_secret) == (item["assetId"], item["deviceSecret"])
        assert created.ou_id == gateway.ou_id and created.status == DeviceStatus.INACTIVE
    first = Device.objects.get(product=registrable, device_key="meter-1")
    assert (first.name, first.description, first.timezone, first.attributes) == (
        "Meter one", "first meter", "+08:00", {"serial": "M-1"})


def test_registering_a_product_that_does_not_allow_it_is_refused(sdk, gateway, product):
    assert not product.dynamic_activation
    client = sdk.connected(gateway)
    response = client.publish(DeviceRegisterRequest.builder().add_register_information(
        product.product_key, "meter-x", StringI18n("Meter X"), "", "+08:00", {"serial": "X"}).build())
    assert response.get_code() != 200
    assert not Device.objects.filter(device_key="meter-x").exists()


def test_tsltemplate_get_returns_the_thing_model(sdk, device, thing_model):
    client = sdk.connected(device)
    response = client.publish(TslTemplateGetRequest.builder().build())
    assert response.get_code() == 200, response.get_message()
    assert set(response.get_measure_points()) == {"power", "temperature", "running"}
    assert set(response.get_attributes()) == {"serial", "capacity", "phase", "commissioned"}
    assert set(response.get_services()) == {"restart"}
    assert set(response.get_events()) == {"fault"}


def notice_inboxes(client) -> dict[str, Inbox]:
    """Handlers for the three notices, answering each with code 200 as a gateway does."""
    inboxes = {
        "disable": Inbox(lambda m, a: SubDeviceDisableReply.builder().set_code(200).build()),
        "enable": Inbox(lambda m, a: SubDeviceEnableReply.builder().set_code(200).build()),
        "delete": Inbox(lambda m, a: SubDeviceDeleteReply.builder().set_code(200).build()),
    }
    client.register_arrived_message_handler(SubDeviceDisableCommand.get_class(), inboxes["disable"])
    client.register_arrived_message_handler(SubDeviceEnableCommand.get_class(), inboxes["enable"])
    client.register_arrived_message_handler(SubDeviceDeleteCommand.get_class(), inboxes["delete"])
    return inboxes


def test_disabling_and_enabling_a_logged_in_sub_device_notifies_its_gateway(sdk, gateway, product, writer):
    (sub,) = make_sub_devices(gateway, product, "sub-notice")
    client = sdk.connected(gateway)
    inboxes = notice_inboxes(client)
    assert client.publish(login_request(sub)).get_code() == 200
    wait_for(lambda: status_of(sub) == DeviceStatus.ONLINE, WAIT)

    asset_services.disable_device(writer, sub)
    message, args = inboxes["disable"].next()
    assert args == [gateway.product.product_key, gateway.device_key]  # on the gateway's /ext/session topic
    assert message.get_method() == "combine.disable" and message.get_params() == [identity(sub)]
    wait_for(lambda: status_of(sub) == DeviceStatus.DISABLED, WAIT)
    assert client.publish(login_request(sub)).get_code() == 723

    asset_services.enable_device(writer, sub)
    message, args = inboxes["enable"].next()
    assert args == [gateway.product.product_key, gateway.device_key]
    assert message.get_method() == "combine.enable" and message.get_params() == [identity(sub)]
    assert client.publish(login_request(sub)).get_code() == 200
    wait_for(lambda: status_of(sub) == DeviceStatus.ONLINE, WAIT)
    assert client.is_connected() and status_of(gateway) == DeviceStatus.ONLINE


def test_deleting_a_logged_in_sub_device_notifies_its_gateway(sdk, gateway, product, writer):
    (sub,) = make_sub_devices(gateway, product, "sub-gone")
    client = sdk.connected(gateway)
    inboxes = notice_inboxes(client)
    assert client.publish(login_request(sub)).get_code() == 200
    wait_for(lambda: status_of(sub) == DeviceStatus.ONLINE, WAIT)
    gone = identity(sub)
    asset_services.delete_device(writer, sub)
    message, args = inboxes["delete"].next()
    assert args == [gateway.product.product_key, gateway.device_key]
    assert message.get_method() == "combine.delete" and message.get_params() == [gone]
    assert client.publish(login_request(sub)).get_code() == 705
