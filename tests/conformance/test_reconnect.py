"""The SDK's reconnects: its auto-reconnect after the broker drops it, and a device that closes and
reconnects at once, many times in a row, ends Online every time (and logs its sub-devices in again)."""

from __future__ import annotations

import pytest
from enos.message.upstream.status.SubDeviceLoginRequest import SubDeviceLoginRequest
from enos.message.upstream.tsl.MeasurepointPostRequest import MeasurepointPostRequest

from assets.models import DeviceStatus
from connectivity.models import DeviceSession
from tests.connectivity.mqtt_client import PahoDevice
from tests.waiting import wait_for

from .conftest import WAIT, make_sub_devices, status_of

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]

RECONNECTS = 200


def test_the_sdk_reconnects_by_itself_after_the_broker_drops_it_and_logs_its_sub_device_in_again(
        sdk, gateway, product):
    (sub,) = make_sub_devices(gateway, product, "sub-back")
    client = sdk.client(gateway)
    client.connect()
    assert client.is_connected()
    response = client.publish(SubDeviceLoginRequest.builder().set_sub_device_info(
        product.product_key, sub.device_key, sub.device_secret).build())
    assert response.get_code() == 200, response.get_message()
    first = DeviceSession.objects.get(device=gateway)

    # a second login with the gateway's credentials takes its session: the broker drops the SDK's connection
    usurper = PahoDevice(sdk.port, gateway.product.product_key, gateway.device_key, gateway.device_secret)
    assert usurper.connect() == 0
    usurper.close()
    # the SDK calls no callback for a lost connection: its new session, with its sub-device logged in
    # again by itself, shows that it was dropped and came back
    sdk_again = DeviceSession.objects.filter(device=gateway, client_id=first.client_id).exclude(
        session_id=first.session_id)
    wait_for(lambda: sdk_again.exists() and status_of(gateway) == DeviceStatus.ONLINE, WAIT)
    # the SDK re-sent combine.login: the sub-device is on the SDK's new session
    wait_for(lambda: DeviceSession.objects.filter(device=sub, session_id=sdk_again.get().session_id).exists(), WAIT)
    assert status_of(sub) == DeviceStatus.ONLINE
    response = client.publish(MeasurepointPostRequest.builder().add_measurepoint("power", 1.0).build())
    assert response.get_code() == 200, response.get_message()


def test_reconnecting_at_once_many_times_ends_online_every_time(sdk, device):
    client = sdk.connected(device)
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, WAIT)
    for attempt in range(RECONNECTS):
        client.reconnect()  # closes the connection and opens a new one at once, waiting for its CONNACK
        assert client.is_connected(), f"reconnect {attempt} was refused"
        response = client.publish(MeasurepointPostRequest.builder().add_measurepoint("power", float(attempt))
                                  .build())
        assert response.get_code() == 200, (attempt, response.get_message())
        wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, WAIT)
    # one more round trip: every earlier connection's close is behind us, and none marked it offline
    assert client.publish(MeasurepointPostRequest.builder().add_measurepoint("power", -1.0).build()).get_code() == 200
    device.refresh_from_db()
    assert device.online and DeviceSession.objects.filter(device=device).exists()
    assert device.last_offline_at is None or device.last_offline_at <= device.last_online_at
