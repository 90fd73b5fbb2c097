"""The official EnOS device SDK (enos-mqtt-sdk-python) through RabbitMQ: it logs in (the portal checks
its sign through the HTTP auth backend), shows Online, reports (its reply comes on the answer topic the
SDK subscribes to), and goes Offline when it closes.

Not here, because RabbitMQ cannot: commands to the SDK. EnOS pushes them without a SUBSCRIBE and the
SDK never subscribes to command topics; RabbitMQ's MQTT plugin delivers only to subscriptions
(docs/rabbitmq.md)."""

from __future__ import annotations

import pytest
from enos.message.upstream.tsl.MeasurepointPostRequest import MeasurepointPostRequest

from assets.models import DeviceStatus
from connectivity.models import LatestValue
from tests.conformance.conftest import Sdk, now_ms
from tests.connectivity.conftest import status_of
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]
SLOW = 60


def test_the_sdk_logs_in_reports_and_leaves_through_rabbitmq(rabbit, bridge, device):
    sdk = Sdk(rabbit.mqtt_port)
    try:
        client = sdk.connected(device)
        wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
        response = client.publish(MeasurepointPostRequest.builder().add_measurepoint("power", 12.5)
                                  .set_timestamp(now_ms()).build())
        assert response.get_code() == 200, response.get_message()
        wait_for(lambda: LatestValue.objects.filter(device=device, identifier="power").exists(), timeout=SLOW)
        assert LatestValue.objects.get(device=device, identifier="power").value == 12.5
    finally:
        sdk.close_all()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)
