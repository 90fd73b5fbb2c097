"""Commands (thing.service.<id>) to a device on the websocket: reply, device error, timeout, offline."""

from __future__ import annotations

import asyncio

import pytest
from asgiref.sync import sync_to_async

from accounts.errors import AccessDenied, DomainError
from accounts.models import AuditEvent
from connectivity import protocol as p
from connectivity import services
from connectivity.handlers import base as handler_base
from connectivity.models import CommandInvocation, CommandStatus

from .conftest import closing, device_socket, run

pytestmark = pytest.mark.django_db(transaction=True)


def invoke_in_thread(*args, **kwargs):
    # its own thread: it blocks while the device (in this event loop) answers
    return sync_to_async(closing(services.invoke_service), thread_sensitive=False)(*args, **kwargs)


def test_a_command_reaches_the_device_and_its_reply_is_the_outcome(device, writer):
    async def scenario():
        async with device_socket(device) as (socket, _):
            pending = asyncio.ensure_future(invoke_in_thread(writer, device, "restart", {"delay": 5}, timeout=5))
            command = await socket.receive()
            assert command["method"] == "thing.service.restart"
            assert command["params"] == {"delay": 5}
            await socket.send({"id": command["id"], "code": 200, "data": {"restarting": True}})
            return await pending

    invocation = run(scenario)
    assert invocation.status == CommandStatus.OK
    assert invocation.outcome()["data"] == {"restarting": True}
    assert invocation.requested_by == writer and invocation.finished_at is not None
    event = AuditEvent.objects.get(action="device.service_invoke")
    assert event.after["service"] == "restart" and event.actor == writer


def test_a_device_error_reply_is_kept_with_its_code(device, writer):
    async def scenario():
        async with device_socket(device) as (socket, _):
            pending = asyncio.ensure_future(invoke_in_thread(writer, device, "restart", {}, timeout=5))
            command = await socket.receive()
            await socket.send({"id": command["id"], "code": 1234, "message": "busy"})
            return await pending

    invocation = run(scenario)
    assert (invocation.status, invocation.code, invocation.message) == (CommandStatus.ERROR, 1234, "busy")


def test_no_reply_in_time_is_a_timeout_and_a_late_reply_changes_nothing(device, writer, monkeypatch):
    traces: list = []
    monkeypatch.setattr(handler_base, "record_message", traces.append)

    async def scenario():
        async with device_socket(device) as (socket, _):
            pending = asyncio.ensure_future(invoke_in_thread(writer, device, "restart", {}, timeout=0.3))
            command = await socket.receive()
            invocation = await pending
            await socket.send({"id": command["id"], "code": 200})
            await socket.call(p.PING, {})  # the late reply has been handled once the ping is answered
            return invocation

    invocation = run(scenario)
    assert (invocation.status, invocation.code) == (CommandStatus.TIMEOUT, p.COMMAND_TIMEOUT)
    invocation.refresh_from_db()
    assert invocation.status == CommandStatus.TIMEOUT
    outcomes = [(t.direction, t.outcome) for t in traces if t.method == "thing.service.restart"]
    assert outcomes == [("down", "ok"), ("up", "timeout"), ("up", "error")]


def test_a_command_to_an_offline_device_says_so_at_once(device, writer):
    invocation = services.invoke_service(writer, device, "restart", {"delay": 1}, timeout=5)
    assert (invocation.status, invocation.code) == (CommandStatus.OFFLINE, p.DEVICE_OFFLINE)
    assert invocation.finished_at is not None


def test_parameters_are_checked_against_the_service_inputs(device, writer):
    with pytest.raises(DomainError, match="above the maximum 3600"):
        services.invoke_service(writer, device, "restart", {"delay": 99999})
    with pytest.raises(DomainError, match='"speed" is not an input'):
        services.invoke_service(writer, device, "restart", {"speed": 1})
    with pytest.raises(DomainError, match="not a service"):
        services.invoke_service(writer, device, "explode", {})
    assert services.invoke_service(writer, device, "restart", {"delay": "30"}, from_text=True).params == {"delay": 30}
    assert not CommandInvocation.objects.filter(status=CommandStatus.PENDING).exists()


def test_a_viewer_may_not_issue_commands(device, viewer):
    with pytest.raises(AccessDenied):
        services.invoke_service(viewer, device, "restart", {})
    assert not CommandInvocation.objects.exists()


def test_a_reply_naming_another_devices_command_is_ignored(device, product, writer):
    from assets.models import Device

    other = Device.objects.create(ou=product.ou, product=product, device_key="inv-0002", name="Inverter 2",
                                  attributes={"serial": "SN-2"})

    async def scenario():
        async with device_socket(device) as (socket, _), device_socket(other) as (intruder, _):
            pending = asyncio.ensure_future(invoke_in_thread(writer, device, "restart", {}, timeout=0.5))
            command = await socket.receive()
            await intruder.send({"id": command["id"], "code": 200})
            await intruder.call(p.PING, {})
            return await pending

    assert run(scenario).status == CommandStatus.TIMEOUT


def test_a_command_to_a_sub_device_goes_through_its_gateway(gateway, device, writer):
    from assets import services as asset_services

    asset_services.add_sub_devices(gateway.ou.owner, gateway, [device])
    device.refresh_from_db()
    params = p.login_params(device.product.product_key, device.device_key, device.device_secret)

    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, params))["code"] == 200
            pending = asyncio.ensure_future(invoke_in_thread(writer, device, "restart", {"delay": 2}, timeout=5))
            command = await socket.receive()
            assert (command["productKey"], command["deviceKey"]) == (params["productKey"], params["deviceKey"])
            await socket.send({"id": command["id"], "code": 200, "data": {}})
            return await pending

    assert run(scenario).status == CommandStatus.OK



def test_a_reply_with_a_non_ascii_digit_id_is_an_unknown_command(device):
    async def scenario():
        async with device_socket(device) as (socket, _):
            await socket.send({"id": "cmd-²", "code": "²", "data": {}})
            assert await socket.nothing()
            assert (await socket.call(p.PING, {}))["code"] == 200  # the connection goes on

    run(scenario)
