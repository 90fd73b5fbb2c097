"""Downstream commands the SDK receives without subscribing to anything: service invocation (sync and
async, for a device and for a gateway's sub-device) and measure point set/get, issued through
connectivity's services as the console and the API do."""

from __future__ import annotations

import pytest
from enos.message.downstream.tsl.MeasurepointGetCommand import MeasurepointGetCommand
from enos.message.downstream.tsl.MeasurepointGetReply import MeasurepointGetReply
from enos.message.downstream.tsl.MeasurepointSetCommand import MeasurepointSetCommand
from enos.message.downstream.tsl.MeasurepointSetReply import MeasurepointSetReply
from enos.message.downstream.tsl.ServiceInvocationCommand import ServiceInvocationCommand
from enos.message.downstream.tsl.ServiceInvocationReply import ServiceInvocationReply
from enos.message.upstream.status.SubDeviceLoginRequest import SubDeviceLoginRequest

from connectivity import services
from connectivity.models import CommandInvocation, CommandStatus
from tests.waiting import wait_for

from .conftest import WAIT, Inbox, make_sub_devices

pytestmark = [pytest.mark.integration, pytest.mark.once, pytest.mark.django_db(transaction=True)]


def restart_reply(message, args):
    return ServiceInvocationReply.builder().add_output_data("accepted", message.get_params()["delay"]) \
        .set_code(200).set_message("restarting").build()


def test_a_sync_service_invocation_reaches_the_sdk_handler_and_its_reply_is_the_outcome(sdk, device, writer):
    inbox = Inbox(restart_reply)
    client = sdk.connected(device)
    client.register_arrived_message_handler(ServiceInvocationCommand.get_class(), inbox)
    invocation = services.invoke_service(writer, device, "restart", {"delay": 3}, timeout=WAIT)
    assert invocation.status == CommandStatus.OK, invocation.outcome()
    assert invocation.reply == {"accepted": 3}
    message, args = inbox.next()
    assert args == [device.product.product_key, device.device_key, "restart"]
    assert message.get_method() == "thing.service.restart" and message.get_params() == {"delay": 3}


def test_a_device_error_code_is_the_outcome(sdk, device, writer):
    client = sdk.connected(device)
    client.register_arrived_message_handler(ServiceInvocationCommand.get_class(), Inbox(
        lambda message, args: ServiceInvocationReply.builder().set_code(2001).set_message("busy").build()))
    invocation = services.invoke_service(writer, device, "restart", {"delay": 1}, timeout=WAIT)
    assert (invocation.status, invocation.code, invocation.message) == (CommandStatus.ERROR, 2001, "busy")


def test_without_a_handler_the_sdk_answers_1101_as_a_string_and_that_is_the_outcome(sdk, device, writer):
    sdk.connected(device)  # no handler registered: the SDK replies code "1101" by itself
    invocation = services.invoke_service(writer, device, "restart", {"delay": 1}, timeout=WAIT)
    assert (invocation.status, invocation.code) == (CommandStatus.ERROR, 1101), invocation.outcome()


def test_an_async_invocation_returns_at_once_and_the_later_reply_is_recorded(sdk, device, writer):
    inbox = Inbox()  # the device answers later, from its own thread, as an async device does
    client = sdk.connected(device)
    client.register_arrived_message_handler(ServiceInvocationCommand.get_class(), inbox)
    invocation = services.invoke_service(writer, device, "restart", {"delay": 5}, timeout=WAIT, wait=False)
    assert invocation.status == CommandStatus.PENDING
    message, args = inbox.next()
    reply = ServiceInvocationReply.builder().add_output_data("accepted", 5).set_code(200).build()
    reply.set_id(message.get_id())
    reply.set_topic_args(args)
    client.fast_publish(reply)
    wait_for(lambda: CommandInvocation.objects.get(pk=invocation.pk).status == CommandStatus.OK, WAIT)
    assert CommandInvocation.objects.get(pk=invocation.pk).reply == {"accepted": 5}


def test_a_service_of_a_sub_device_reaches_its_gateway_and_the_reply_comes_back(sdk, gateway, product, writer):
    (sub,) = make_sub_devices(gateway, product, "sub-svc")
    inbox = Inbox(restart_reply)
    client = sdk.connected(gateway)
    client.register_arrived_message_handler(ServiceInvocationCommand.get_class(), inbox)
    response = client.publish(SubDeviceLoginRequest.builder().set_sub_device_info(
        product.product_key, sub.device_key, sub.device_secret).build())
    assert response.get_code() == 200, response.get_message()
    invocation = services.invoke_service(writer, sub, "restart", {"delay": 2}, timeout=WAIT)
    assert invocation.status == CommandStatus.OK, invocation.outcome()
    assert inbox.next()[1] == [product.product_key, sub.device_key, "restart"]  # on the sub-device's topic


def test_measurepoint_set_reaches_the_sdk_and_succeeds(sdk, device, writer):
    inbox = Inbox(lambda message, args: MeasurepointSetReply.builder().set_code(200).build())
    client = sdk.connected(device)
    client.register_arrived_message_handler(MeasurepointSetCommand.get_class(), inbox)
    invocation = services.set_measurepoints(writer, device, {"power": 3.5, "running": True}, timeout=WAIT)
    assert invocation.status == CommandStatus.OK, invocation.outcome()
    message, args = inbox.next()
    assert message.get_method() == "thing.service.measurepoint.set"
    assert message.get_params() == {"power": 3.5, "running": True}
    assert args == [device.product.product_key, device.device_key]


def test_measurepoint_get_returns_what_the_device_answers(sdk, device, writer):
    inbox = Inbox(lambda message, args: MeasurepointGetReply.builder()
                  .set_measureponits({name: 4.25 for name in message.get_params()}).set_code(200).build())
    client = sdk.connected(device)
    client.register_arrived_message_handler(MeasurepointGetCommand.get_class(), inbox)
    invocation = services.get_measurepoints(writer, device, ["power", "temperature"], timeout=WAIT)
    assert invocation.status == CommandStatus.OK, invocation.outcome()
    assert invocation.reply == {"power": 4.25, "temperature": 4.25}
    message, _ = inbox.next()
    assert message.get_method() == "thing.service.measurepoint.get"
    assert sorted(message.get_params()) == ["power", "temperature"]


def test_a_command_to_an_offline_device_is_not_sent(sdk, device, writer):
    invocation = services.set_measurepoints(writer, device, {"power": 1.0}, timeout=WAIT)
    assert invocation.status == CommandStatus.OFFLINE
