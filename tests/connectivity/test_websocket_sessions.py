"""Sessions end when assets says so: disabling kicks the device (then 723), a secret reset kicks it,
a gateway's sub-devices log in through it (740/741) and go offline with it; dynamic activation."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async

from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity.models import DeviceSession

from .conftest import device_socket, login_message, run, status_of

pytestmark = pytest.mark.django_db(transaction=True)


def sub_login(sub: Device, *, secret: str | None = None) -> dict:
    return p.login_params(sub.product.product_key, sub.device_key, secret or sub.device_secret)


@pytest.fixture
def sub_device(gateway, device) -> Device:
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device])
    device.refresh_from_db()
    return device


def test_disabling_a_connected_device_kicks_it_and_its_next_login_is_refused_with_723(device, writer):
    async def scenario():
        async with device_socket(device) as (socket, _):
            await database_sync_to_async(asset_services.disable_device)(writer, device)
            assert (await socket.closed())["code"] == 4003
        async with device_socket(device, expect_code=p.DEVICE_DISABLED):
            pass

    run(scenario)
    device.refresh_from_db()
    assert device.status == DeviceStatus.DISABLED and device.online is False
    assert device.last_offline_at is not None


def test_resetting_the_secret_kicks_the_device_and_the_old_secret_no_longer_works(device, writer):
    old_secret = device.device_secret

    async def scenario():
        async with device_socket(device) as (socket, _):
            await database_sync_to_async(asset_services.reset_secret)(writer, device)
            assert (await socket.closed())["code"] == 4003
        async with device_socket(login=await database_sync_to_async(login_message)(device, secret=old_secret),
                                 expect_code=p.SIGN_CHECK_FAILED):
            pass

    run(scenario)
    assert status_of(device) == DeviceStatus.OFFLINE


def test_a_sub_device_logs_in_through_its_gateway_and_reports_on_its_own_behalf(gateway, sub_device):
    params = sub_login(sub_device)

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            answer = await socket.call(p.COMBINE_LOGIN, params)
            assert answer["code"] == 200 and answer["data"]["assetId"] == sub_device.asset_id
            assert await database_sync_to_async(status_of)(sub_device) == DeviceStatus.ONLINE
            answer = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 3}},
                                       productKey=params["productKey"], deviceKey=params["deviceKey"])
            assert answer["code"] == 200
            answer = await socket.call(p.COMBINE_LOGOUT, {"productKey": params["productKey"],
                                                          "deviceKey": params["deviceKey"]})
            assert answer["code"] == 200
            assert await database_sync_to_async(status_of)(sub_device) == DeviceStatus.OFFLINE
            answer = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 3}},
                                       productKey=params["productKey"], deviceKey=params["deviceKey"])
            assert answer["code"] == p.NO_PUBLISH_PERMISSION

    run(scenario)


def test_sub_devices_go_offline_with_their_gateway(gateway, sub_device):
    params = sub_login(sub_device)

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, params))["code"] == 200

    run(scenario)
    assert status_of(sub_device) == DeviceStatus.OFFLINE
    assert status_of(gateway) == DeviceStatus.OFFLINE
    assert not DeviceSession.objects.exists()


def test_a_sub_device_cannot_log_in_directly_741(sub_device):
    async def scenario():
        async with device_socket(sub_device, expect_code=p.SUB_DEVICE_DIRECT_LOGIN):
            pass

    run(scenario)
    assert status_of(sub_device) == DeviceStatus.INACTIVE


def test_a_gateway_cannot_log_in_a_device_that_is_not_its_sub_device_740(gateway, device):
    params = sub_login(device)

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            answer = await socket.call(p.COMBINE_LOGIN, params)
            assert answer["code"] == p.SUB_DEVICE_NOT_OF_GATEWAY

    run(scenario)
    assert status_of(device) == DeviceStatus.INACTIVE


def test_a_sub_device_with_a_wrong_sign_or_disabled_is_refused(gateway, sub_device):
    wrong, right = sub_login(sub_device, secret="wrong"), sub_login(sub_device)

    owner = sub_device.ou.owner

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            answer = await socket.call(p.COMBINE_LOGIN, wrong)
            assert answer["code"] == p.SIGN_CHECK_FAILED
            await database_sync_to_async(asset_services.disable_device)(owner, sub_device)
            notice = await socket.receive()  # the gateway hears of it, as from EnOS
            assert notice["method"] == p.COMBINE_DISABLE
            assert notice["params"] == [{"productKey": right["productKey"], "deviceKey": right["deviceKey"]}]
            answer = await socket.call(p.COMBINE_LOGIN, right)
            assert answer["code"] == p.DEVICE_DISABLED

    run(scenario)


def test_disabling_a_logged_in_sub_device_ends_only_its_session(gateway, sub_device):
    params = sub_login(sub_device)
    owner = sub_device.ou.owner

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, params))["code"] == 200
            await database_sync_to_async(asset_services.disable_device)(owner, sub_device)
            assert (await socket.receive())["method"] == p.COMBINE_DISABLE
            assert (await socket.call(p.PING, {}))["code"] == 200  # the gateway stays connected
            assert await database_sync_to_async(lambda: Device.objects.get(pk=sub_device.pk).online)() is False
            assert await database_sync_to_async(status_of)(gateway) == DeviceStatus.ONLINE

    run(scenario)


def test_only_a_gateway_logs_sub_devices_in(device, product):
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                  attributes={"serial": "SN-2"})
    params = sub_login(other)

    async def scenario():
        async with device_socket(device) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, params))["code"] == p.BAD_REQUEST

    run(scenario)


def test_dynamic_activation_returns_the_device_secret_once(device, product):
    product.dynamic_activation = True
    product.save()
    message = p.request("1", p.LOGIN, p.login_params(product.product_key, device.device_key, product.product_secret,
                                                      secure_mode=p.DYNAMIC_ACTIVATION))

    async def scenario():
        async with device_socket(login=message) as (_, answer):
            assert answer["data"]["deviceSecret"] == device.device_secret
        # activated: doing it again is refused; the static login works
        async with device_socket(login=message, expect_code=p.DYNAMIC_ACTIVATION_NOT_ALLOWED):
            pass
        async with device_socket(device) as (_, answer):
            assert "deviceSecret" not in answer["data"]

    run(scenario)
    assert status_of(device) == DeviceStatus.OFFLINE and device.activated_at is not None


def test_dynamic_activation_is_refused_when_the_product_does_not_allow_it_770(device, product):
    message = p.request("1", p.LOGIN, p.login_params(product.product_key, device.device_key, product.product_secret,
                                                      secure_mode=p.DYNAMIC_ACTIVATION))

    async def scenario():
        async with device_socket(login=message, expect_code=p.DYNAMIC_ACTIVATION_NOT_ALLOWED):
            pass

    run(scenario)
    assert status_of(device) == DeviceStatus.INACTIVE


def test_deleting_a_gateway_takes_its_logged_in_sub_devices_offline(gateway, sub_device, writer):
    params = sub_login(sub_device)

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, params))["code"] == 200
            await database_sync_to_async(asset_services.delete_device)(writer, gateway)
            assert (await socket.closed())["code"] == 4003

    run(scenario)
    sub_device.refresh_from_db()
    assert sub_device.online is False and not DeviceSession.objects.exists()
