"""The portal's MQTT broker as a real process (`manage.py run_mqtt_broker`), with paho-mqtt devices.

Runs on the embedded default too: without a shared channel layer, kicks and commands reach the
broker through its database sweep; with Redis, through the channel layer.
"""

from __future__ import annotations

import json
import threading

import pytest

from assets import bulk
from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity import services
from connectivity.models import CommandStatus, ConnectionRecord, DeviceSession, EndReason, LatestValue
from tests.waiting import wait_for

from .conftest import status_of
from .mqtt_client import NOT_AUTHORIZED, PahoDevice

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

def paho(port: int, device: Device, **kwargs) -> PahoDevice:
    return PahoDevice(port, device.product.product_key, device.device_key, device.device_secret, **kwargs)


@pytest.fixture
def port(settled_mqtt_broker):
    # one broker process for the module (tests/connectivity/conftest.py), settled after each test
    return settled_mqtt_broker


def test_connect_activates_reports_are_checked_and_disconnect_goes_offline(port, device):
    client = paho(port, device)
    assert client.connect() == 0
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE)
    assert client.subscribe(f"/sys/{device.product.product_key}/{device.device_key}/#") == 0
    answer = client.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 7.5}})
    assert answer["code"] == p.SUCCESS
    refused = client.call(p.MEASUREPOINT_POST, {"measurepoints": {"voltage": 1}})
    assert refused["code"] == p.INVALID_VALUE and "voltage" in refused["message"]
    mismatch = client.call(p.ATTRIBUTE_UPDATE, {"attributes": {}},
                           topic=p.topic_for(device.product.product_key, device.device_key, p.MEASUREPOINT_POST))
    assert mismatch["code"] == p.METHOD_TOPIC_MISMATCH
    wait_for(lambda: LatestValue.objects.filter(device=device, identifier="power").exists())
    assert LatestValue.objects.get(device=device, identifier="power").value == 7.5
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE)


def test_an_empty_or_non_json_payload_is_answered_with_its_code(port, device):
    client = paho(port, device)
    assert client.connect() == 0
    assert client.subscribe(f"/sys/{device.product.product_key}/{device.device_key}/#") == 0
    topic = p.topic_for(device.product.product_key, device.device_key, p.MEASUREPOINT_POST)
    for payload, code in [(b"", p.PAYLOAD_EMPTY), (b"{not json", p.PAYLOAD_FORMAT_ERROR)]:
        client.client.publish(topic, payload).wait_for_publish(5)
        assert client.expect(lambda reply_topic, message: reply_topic == f"{topic}_reply")[1]["code"] == code
    client.close()


def test_a_wrong_sign_is_refused_at_connect(port, device):
    client = PahoDevice(port, device.product.product_key, device.device_key, "not-the-secret")
    assert client.connect() == NOT_AUTHORIZED
    client.close()
    assert status_of(device) == DeviceStatus.INACTIVE


def test_after_ten_wrong_signs_even_the_right_one_is_refused_for_a_while(port, device):
    for _ in range(10):  # device-login: 10 failures per 5 minutes per deviceKey
        guess = PahoDevice(port, device.product.product_key, device.device_key, "guess")
        assert guess.connect() == NOT_AUTHORIZED
        guess.close()
    right = paho(port, device)
    assert right.connect() == NOT_AUTHORIZED
    right.close()
    assert status_of(device) == DeviceStatus.INACTIVE


def test_a_device_reaches_only_its_own_topics(port, device, product):
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                  attributes={"serial": "SN-2"})
    client = paho(port, device)
    assert client.connect() == 0
    assert client.subscribe(f"/sys/{product.product_key}/{other.device_key}/#") == 0x80
    assert client.subscribe("/sys/#") == 0x80
    assert client.subscribe(f"/sys/{product.product_key}/{device.device_key}/#") == 0
    client.publish(p.MEASUREPOINT_POST, {"measurepoints": {"power": 1}}, device_key=other.device_key)
    assert client.nothing(0.8)  # a refused publish is never processed, so never answered
    assert not LatestValue.objects.filter(device=other).exists()
    client.close()


def test_a_command_reaches_the_device_and_the_reply_is_the_outcome(port, device, writer):
    client = paho(port, device)
    assert client.connect() == 0
    topic_filter = f"/sys/{device.product.product_key}/{device.device_key}/#"
    assert client.subscribe(topic_filter) == 0

    def answer_commands():
        topic, command = client.expect(lambda t, m: m.get("method") == "thing.service.restart", timeout=10)
        client.client.publish(f"{topic}_reply", json.dumps(p.reply(command["id"], 200, {"ok": True})))

    helper = threading.Thread(target=answer_commands)
    helper.start()
    invocation = services.invoke_service(writer, device, "restart", {"delay": 3}, timeout=10)
    helper.join()
    assert invocation.status == CommandStatus.OK, invocation.outcome()
    assert invocation.reply == {"ok": True}
    client.close()


def test_disabling_disconnects_the_device_and_its_next_connect_is_refused(port, device, writer):
    client = paho(port, device)
    assert client.connect() == 0
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE)
    asset_services.disable_device(writer, device)
    assert client.disconnected.wait(10)
    client.client.loop_stop()
    wait_for(lambda: not Device.objects.get(pk=device.pk).online)
    again = paho(port, device)
    assert again.connect() == NOT_AUTHORIZED
    again.close()
    assert status_of(device) == DeviceStatus.DISABLED


def test_a_gateway_speaks_for_its_sub_devices_after_combine_login(port, gateway, device):
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device])
    device.refresh_from_db()
    client = paho(port, gateway)
    assert client.connect() == 0
    client.subscribe(f"/ext/session/{gateway.product.product_key}/{gateway.device_key}/#")
    sub = {"product_key": device.product.product_key, "device_key": device.device_key}
    client.publish(p.MEASUREPOINT_POST, {"measurepoints": {"power": 1}}, **sub)
    assert client.nothing(0.8)  # not logged in yet: refused
    answer = client.call(p.COMBINE_LOGIN, p.login_params(device.product.product_key, device.device_key,
                                                         device.device_secret))
    assert answer["code"] == p.SUCCESS and answer["data"]["assetId"] == device.asset_id
    assert client.subscribe(f"/sys/{device.product.product_key}/{device.device_key}/#") == 0
    assert client.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 2}}, **sub)["code"] == p.SUCCESS
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE)
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE)


def test_disabling_a_gateway_ends_its_and_its_sub_devices_sessions_before_it_disconnects(port, gateway, device,
                                                                                          writer):
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device])
    device.refresh_from_db()
    client = paho(port, gateway)
    assert client.connect() == 0
    client.subscribe(f"/ext/session/{gateway.product.product_key}/{gateway.device_key}/#")
    answer = client.call(p.COMBINE_LOGIN, p.login_params(device.product.product_key, device.device_key,
                                                         device.device_secret))
    assert answer["code"] == p.SUCCESS
    bulk.set_enabled(writer, [gateway.pk], False)
    # ended by the disable (the broker's close then finds nothing to end), one stamp for both
    assert not DeviceSession.objects.exists()
    assert not Device.objects.filter(online=True).exists()
    records = {r.device_id: r for r in ConnectionRecord.objects.all()}
    assert (records[gateway.pk].end_reason, records[device.pk].end_reason) == (EndReason.DISABLED,
                                                                               EndReason.GATEWAY_OFFLINE)
    assert records[gateway.pk].ended_at == records[device.pk].ended_at
    assert client.disconnected.wait(10)
    client.client.loop_stop()
    assert status_of(gateway) == DeviceStatus.DISABLED


def test_dynamic_activation_hands_over_the_device_secret(port, device, product):
    product.dynamic_activation = True
    product.save()
    client = PahoDevice(port, product.product_key, device.device_key, product.product_secret,
                        secure_mode=p.DYNAMIC_ACTIVATION)
    assert client.connect() == 0
    _, info = client.expect(lambda t, m: m.get("method") == p.ACTIVATE_INFO)
    assert info["params"]["deviceSecret"] == device.device_secret
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE)
    again = PahoDevice(port, product.product_key, device.device_key, product.product_secret,
                       secure_mode=p.DYNAMIC_ACTIVATION)
    assert again.connect() == NOT_AUTHORIZED  # 771: already activated
    again.close()


def test_a_device_that_stops_talking_is_dropped_after_its_keepalive(port, device):
    client = paho(port, device, keepalive=1)
    assert client.connect() == 0
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE)
    client.stop_talking()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=10)
    client.client.disconnect()


def test_the_broker_beats_for_the_sessions_it_holds(port, device):
    import datetime as dt

    from django.utils.timezone import now

    from connectivity.models import DeviceSession

    client = paho(port, device)
    assert client.connect() == 0
    wait_for(lambda: DeviceSession.objects.filter(device=device).exists())
    long_ago = now() - dt.timedelta(hours=1)
    DeviceSession.objects.filter(device=device).update(seen_at=long_ago)
    wait_for(lambda: DeviceSession.objects.get(device=device).seen_at > long_ago + dt.timedelta(minutes=59))
    client.close()
