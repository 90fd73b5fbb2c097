"""The official EnOS device SDK (enos-mqtt-sdk-python) through RabbitMQ: it logs in (the portal checks
its sign through the HTTP auth backend), shows Online, reports (its reply comes on the answer topic the
SDK subscribes to), is commanded, goes Offline when it closes, and is kicked when disabled.

The SDK never subscribes to its command topics (EnOS subscribes devices server-side): the bridge binds
them to the queue of the SDK's own subscriptions once it has one (downlinks.py)."""

from __future__ import annotations

import pytest
from enos.message.downstream.tsl.ServiceInvocationCommand import ServiceInvocationCommand
from enos.message.downstream.tsl.ServiceInvocationReply import ServiceInvocationReply
from enos.message.upstream.tsl.MeasurepointPostRequest import MeasurepointPostRequest

from assets import services as asset_services
from assets.models import DeviceStatus
from connectivity import services
from connectivity.models import CommandStatus, DeviceSession, LatestValue
from tests.conformance.conftest import Inbox, Sdk, now_ms
from tests.connectivity.conftest import status_of
from tests.waiting import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]
SLOW = 60


def restart_reply(message, args):
    return ServiceInvocationReply.builder().add_output_data("accepted", message.get_params()["delay"]) \
        .set_code(200).build()


def test_the_sdk_logs_in_reports_is_commanded_leaves_and_is_kicked_through_rabbitmq(rabbit, bridge, device, writer):
    sdk = Sdk(rabbit.mqtt_port)
    try:
        client = sdk.connected(device)
        wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
        response = client.publish(MeasurepointPostRequest.builder().add_measurepoint("power", 12.5)
                                  .set_timestamp(now_ms()).build())
        assert response.get_code() == 200, response.get_message()
        wait_for(lambda: LatestValue.objects.filter(device=device, identifier="power").exists(), timeout=SLOW)
        assert LatestValue.objects.get(device=device, identifier="power").value == 12.5

        inbox = Inbox(restart_reply)
        client.register_arrived_message_handler(ServiceInvocationCommand.get_class(), inbox)
        connection = DeviceSession.objects.get(device=device).client_id
        wait_for(lambda: bridge.downlinks.is_bound(connection), timeout=SLOW)
        invocation = services.invoke_service(writer, device, "restart", {"delay": 3}, timeout=SLOW)
        assert invocation.status == CommandStatus.OK, invocation.outcome()
        assert invocation.reply == {"accepted": 3}
        assert inbox.next()[0].get_params() == {"delay": 3}
    finally:
        sdk.close_all()
    wait_for(lambda: status_of(device) == DeviceStatus.OFFLINE, timeout=SLOW)

    # back, then disabled: the portal closes its connection through RabbitMQ's management API
    sdk = Sdk(rabbit.mqtt_port)
    try:
        client = sdk.connected(device, auto_reconnect=False)
        wait_for(lambda: status_of(device) == DeviceStatus.ONLINE, timeout=SLOW)
        asset_services.disable_device(writer, device)
        wait_for(lambda: not client.is_connected(), timeout=SLOW)
        wait_for(lambda: not DeviceSession.objects.filter(device=device).exists(), timeout=SLOW)
        assert status_of(device) == DeviceStatus.DISABLED
    finally:
        sdk.close_all()
