"""Devices through a real RabbitMQ node's MQTT plugin: the portal authenticates them (HTTP auth backend),
the bridge carries their messages and connection events, commands and kicks go back through RabbitMQ."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

import pytest

from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity import services
from connectivity.models import CommandStatus, LatestValue
from connectivity.transports import brokers
from tests.connectivity.conftest import status_of
from tests.connectivity.mqtt_client import NOT_AUTHORIZED, PahoDevice
from tests.waiting import wait_for
from tracing import services as tracing
from tracing.models import TraceLog

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]
SLOW = 30  # a loaded 2-core CI box: generous, and only ever waited on a condition


def paho(rabbit, device: Device, **kwargs) -> PahoDevice:
    return PahoDevice(rabbit.mqtt_port, device.product.product_key, device.device_key, device.device_secret, **kwargs)


def own_topics(device: Device) -> str:
    return f"/sys/{device.product.product_key}/{device.device_key}/#"


def call(client: PahoDevice, method: str, params: dict, **where: str) -> dict:
    """A request and its reply (subscribed to its own topics, a device also hears its own requests)."""
    request_id = client.publish(method, params, **where)
    return client.expect(lambda topic, message: message.get("id") == request_id and "code" in message,
                         timeout=SLOW)[1]


def test_a_device_logs_in_reports_and_goes_offline_when_it_leaves(rabbit, bridge, device):
    client = paho(rabbit, device)
    assert client.connect() == 0
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
    assert client.subscribe(own_topics(device)) in (0, 1)
    answer = call(client, p.MEASUREPOINT_POST, {"measurepoints": {"power": 7.5}})
    assert answer["code"] == p.SUCCESS
    refused = call(client, p.MEASUREPOINT_POST, {"measurepoints": {"voltage": 1}})
    assert refused["code"] == p.INVALID_VALUE
    wait_for(lambda: LatestValue.objects.filter(device=device, identifier="power").exists(), timeout=SLOW)
    assert LatestValue.objects.get(device=device, identifier="power").value == 7.5
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)


def test_a_wrong_sign_is_refused_and_traced(rabbit, bridge, device, writer):
    tracing.start_trace(writer, device, timedelta(hours=1))
    client = PahoDevice(rabbit.mqtt_port, device.product.product_key, device.device_key, "not-the-secret-at-all")
    assert client.connect() in (NOT_AUTHORIZED, 4)
    client.close()
    wait_for(lambda: TraceLog.objects.filter(code=p.SIGN_CHECK_FAILED).exists(), timeout=SLOW)
    assert status_of(device) == DeviceStatus.INACTIVE


def test_a_command_reaches_the_device_and_its_reply_is_recorded(rabbit, bridge, device, writer):
    client = paho(rabbit, device)
    assert client.connect() == 0
    assert client.subscribe(own_topics(device)) in (0, 1)
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)

    def answer_commands() -> None:
        topic, message = client.expect(lambda topic, message: message.get("method") == "thing.service.restart",
                                       timeout=SLOW)
        reply = json.dumps(p.reply(message["id"], data={"done": True}))
        client.client.publish(f"{topic}_reply", reply).wait_for_publish(5)

    answering = threading.Thread(target=answer_commands)
    answering.start()
    invocation = services.invoke_service(writer, device, "restart", {"delay": 3}, timeout=SLOW)
    answering.join(SLOW)
    assert invocation.status == CommandStatus.OK, invocation.message
    assert invocation.reply == {"done": True}
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)


def test_disabling_kicks_the_device_and_its_next_login_is_refused(rabbit, bridge, device, writer):
    client = paho(rabbit, device)
    assert client.connect() == 0
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
    asset_services.disable_device(writer, device)
    assert client.disconnected.wait(SLOW), "RabbitMQ did not close the disabled device's connection"
    wait_for(lambda: status_of(device) == DeviceStatus.DISABLED, timeout=SLOW)
    client.close()
    again = paho(rabbit, device)
    assert again.connect() in (NOT_AUTHORIZED, 4)
    again.close()


def test_the_newest_connection_of_a_device_wins(rabbit, bridge, device):
    first = paho(rabbit, device)
    assert first.connect() == 0
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
    second = paho(rabbit, device)
    assert second.connect() == 0
    assert first.disconnected.wait(SLOW), "the older connection was not kicked"
    assert status_of(device) == DeviceStatus.ONLINE
    assert second.subscribe(own_topics(device)) in (0, 1)
    assert call(second, p.MEASUREPOINT_POST, {"measurepoints": {"power": 1.0}})["code"] == p.SUCCESS
    first.close()
    second.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)


def test_a_device_may_not_publish_to_another_devices_topic(rabbit, bridge, device, product, writer):
    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Other")
    tracing.start_trace(writer, device, timedelta(hours=1))
    client = paho(rabbit, device)
    assert client.connect() == 0
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
    client.publish(p.MEASUREPOINT_POST, {"measurepoints": {"power": 1}}, device_key=other.device_key)
    assert client.disconnected.wait(SLOW), "RabbitMQ closes a connection whose publish was refused"
    wait_for(lambda: TraceLog.objects.filter(code=p.NO_PUBLISH_PERMISSION).exists(), timeout=SLOW)
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)
    assert not LatestValue.objects.filter(device=other).exists()


def test_the_bridge_reconnects_after_rabbitmq_restarts(rabbit, bridge, device):
    rabbit.stop_app()
    wait_for(lambda: not any(consumer.ready.is_set() for consumer in bridge.consumers), timeout=SLOW)
    rabbit.start_app()
    assert bridge.wait_ready(timeout=SLOW * 2), "the bridge did not reconnect"
    client = paho(rabbit, device)
    assert client.connect() == 0
    wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
    assert client.subscribe(own_topics(device)) in (0, 1)
    assert call(client, p.MEASUREPOINT_POST, {"measurepoints": {"power": 3.0}})["code"] == p.SUCCESS
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)


def test_a_devices_messages_whatever_their_topic_are_handled_in_order_by_one_shard(rabbit, bridge, device,
                                                                                  monkeypatch):
    handled: list[tuple[str, str]] = []  # (the consumer thread, the request id), as the bridge handles them
    answer = brokers.answer

    def recording(session, topic_name, payload, *args, **kwargs):
        handled.append((threading.current_thread().name, json.loads(payload)["id"]))
        return answer(session, topic_name, payload, *args, **kwargs)

    monkeypatch.setattr(brokers, "answer", recording)
    client = paho(rabbit, device)
    assert client.connect() == 0
    wait_for(lambda: (device.product.product_key, device.device_key) in bridge.routed, timeout=SLOW)
    requests = [(p.MEASUREPOINT_POST, {"measurepoints": {"power": 1.0}}), (p.ATTRIBUTE_QUERY, {}),
                (p.TAG_QUERY, {})] * 4
    sent = [client.publish(method, params) for method, params in requests]
    wait_for(lambda: len(handled) >= len(sent), timeout=SLOW)
    assert [request_id for _thread, request_id in handled] == sent
    assert len({thread for thread, _id in handled}) == 1, handled  # three topics, one shard
    client.close()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)
