"""A disable ends its connected devices' sessions set-based (connectivity.receivers.kick_disabled) before it kicks
them: the kicked connection closes with no database work, the heartbeat re-kicks a connection whose kick was
lost, and a connection whose session was ended cannot bring anything back online before its kick arrives."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext

from assets import bulk
from assets import services as asset_services
from assets.models import Device
from connectivity import bus, services, signals
from connectivity import protocol as p
from connectivity.handlers import base as handler_base
from connectivity.heartbeat import heartbeat
from connectivity.models import ConnectionRecord, DeviceSession, EndReason, Transport
from connectivity.receivers import kick_disabled
from connectivity.transports import websocket

from .conftest import device_socket, run


def sub_login(sub: Device) -> dict:
    return p.login_params(sub.product.product_key, sub.device_key, sub.device_secret)


@pytest.fixture
def fleet(product) -> list[Device]:
    return [Device.objects.create(ou=product.ou, product=product, device_key=f"fleet-{n:04d}", name=f"Fleet {n}")
            for n in range(3)]


@pytest.fixture
def sub_device(gateway, product) -> Device:
    sub = Device.objects.create(ou=product.ou, product=product, device_key="sub-0001", name="Sub 1")
    asset_services.add_sub_devices(gateway.ou.owner, gateway, [sub])
    return Device.objects.select_related("product").get(pk=sub.pk)  # its login signed in async code


@pytest.fixture
def closes(monkeypatch) -> list[str]:
    """The sessions the websocket transport closed or ended itself (database work a kick for a disable spares)."""
    ended: list[str] = []

    def spy(name: str) -> None:
        real = getattr(websocket, name)

        def spied(*args: Any, **kwargs: Any) -> Any:
            ended.append(name)
            return real(*args, **kwargs)

        monkeypatch.setattr(websocket, name, spied)

    spy("close_session")
    spy("end_sub_session")
    return ended


@pytest.fixture
def traces(monkeypatch) -> list:
    recorded: list = []
    monkeypatch.setattr(handler_base, "record_message", recorded.append)
    return recorded


@pytest.fixture
def went_offline() -> Any:
    heard: list[list[int]] = []

    def listen(sender: Any, device_ids: list[int], **kwargs: Any) -> None:
        heard.append(sorted(device_ids))

    signals.devices_went_offline.connect(listen, dispatch_uid="test.went_offline")
    yield heard
    signals.devices_went_offline.disconnect(dispatch_uid="test.went_offline")


@pytest.fixture
def lost_first_kick(monkeypatch) -> list[tuple]:
    """The channel layer drops the first kick (delivery is at most once)."""
    lost: list[tuple] = []
    real = bus.kick

    def kick(device_ids: list[int], reason: str, code: int, **kwargs: Any) -> None:
        if not lost:
            lost.append((list(device_ids), reason, kwargs))
            return
        real(device_ids, reason, code, **kwargs)

    monkeypatch.setattr(bus, "kick", kick)
    return lost


def records_of(*devices: Device) -> dict[int, tuple]:
    return {r.device_id: (r.end_reason, r.ended_at) for r in
            ConnectionRecord.objects.filter(device__in=devices)}


@pytest.mark.django_db(transaction=True)
def test_a_bulk_disable_ends_the_sessions_at_once_and_the_connections_close_without_database_work(
        writer, fleet, gateway, sub_device, closes, traces, went_offline):
    connected, idle = fleet[:2], fleet[2]

    async def scenario():
        async with AsyncExitStack() as stack:
            sockets = [(await stack.enter_async_context(device_socket(device)))[0] for device in [gateway, *connected]]
            assert (await sockets[0].call(p.COMBINE_LOGIN, sub_login(sub_device)))["code"] == p.SUCCESS
            outcome = await database_sync_to_async(bulk.set_enabled)(
                writer, [gateway.pk, *(d.pk for d in fleet)], False)
            assert len(outcome.done) == 4
            answers = await asyncio.gather(*(socket.closed() for socket in sockets))
            assert [answer["code"] for answer in answers] == [websocket.CLOSE_KICKED] * 3

    run(scenario)
    assert closes == []  # no close_session, no end_sub_session: the receiver had ended them all
    everyone = [gateway, sub_device, *connected]
    assert not DeviceSession.objects.exists()
    assert not Device.objects.filter(pk__in=[d.pk for d in everyone], online=True).exists()
    records = records_of(*everyone, idle)
    assert {pk: reason for pk, (reason, _) in records.items()} == {
        gateway.pk: EndReason.DISABLED, connected[0].pk: EndReason.DISABLED, connected[1].pk: EndReason.DISABLED,
        sub_device.pk: EndReason.GATEWAY_OFFLINE}
    assert len({ended_at for _, ended_at in records.values()}) == 1  # one stamp: ended together, set-based
    assert went_offline == [sorted(d.pk for d in everyone)]  # one signal for the chunk
    ended = {(t.device_id, t.method, t.message) for t in traces if t.method in (p.OFFLINE, p.COMBINE_LOGOUT)}
    assert ended == {(gateway.pk, p.OFFLINE, "device disabled"), (connected[0].pk, p.OFFLINE, "device disabled"),
                     (connected[1].pk, p.OFFLINE, "device disabled"),
                     (sub_device.pk, p.COMBINE_LOGOUT, "gateway went offline: device disabled")}


@pytest.mark.django_db(transaction=True)
def test_a_disabled_sub_device_leaves_its_gateway_without_database_work(writer, gateway, sub_device, closes):
    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, sub_login(sub_device)))["code"] == p.SUCCESS
            await database_sync_to_async(asset_services.disable_device)(writer, sub_device)
            assert (await socket.receive())["method"] == p.COMBINE_DISABLE
            assert (await socket.call(p.PING, {}))["code"] == p.SUCCESS  # the gateway stays
            reported = await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 1}},
                                         productKey=sub_device.product.product_key, deviceKey=sub_device.device_key)
            assert reported["code"] == p.NO_PUBLISH_PERMISSION  # the sub-device left the connection

    run(scenario)
    assert closes == ["close_session"]  # the gateway's own close at the end, nothing for the sub-device
    assert records_of(sub_device)[sub_device.pk][0] == EndReason.DISABLED
    assert not Device.objects.get(pk=sub_device.pk).online


@pytest.mark.django_db(transaction=True)
def test_a_connection_whose_kick_was_lost_is_closed_by_the_next_heartbeat(writer, device, lost_first_kick, closes):
    async def scenario():
        async with device_socket(device) as (socket, _):
            await database_sync_to_async(asset_services.disable_device)(writer, device)
            assert lost_first_kick == [([device.pk], "device disabled", {"ended": True})]
            assert await socket.nothing()  # its kick was lost: still connected, its session already over
            assert not await DeviceSession.objects.filter(device=device).aexists()
            assert not (await Device.objects.aget(pk=device.pk)).online
            ended_at = (await ConnectionRecord.objects.aget(device=device)).ended_at
            await heartbeat.beat()
            assert (await socket.closed())["code"] == websocket.CLOSE_KICKED
            assert (await ConnectionRecord.objects.aget(device=device)).ended_at == ended_at  # ended once

    run(scenario)
    assert closes == []


@pytest.mark.django_db(transaction=True)
def test_an_ended_gateway_cannot_log_a_sub_device_in_or_come_back_online_before_its_kick(
        writer, gateway, sub_device, lost_first_kick, closes):
    async def scenario():
        async with device_socket(gateway) as (socket, _):
            await database_sync_to_async(asset_services.disable_device)(writer, gateway)
            assert lost_first_kick  # its session is ended; the connection has not heard yet
            refused = await socket.call(p.COMBINE_LOGIN, sub_login(sub_device))
            assert refused["code"] == p.SUB_DEVICE_NO_PERMISSION
            assert (await socket.call(p.MEASUREPOINT_POST, {"measurepoints": {"power": 1}}))["code"] == p.SUCCESS
            assert (await socket.call(p.PING, {}))["code"] == p.SUCCESS
            assert not await DeviceSession.objects.aexists()
            assert not await Device.objects.filter(online=True).aexists()
            await heartbeat.beat()
            assert (await socket.closed())["code"] == websocket.CLOSE_KICKED

    run(scenario)
    assert closes == []
    assert not DeviceSession.objects.exists()
    assert not Device.objects.filter(online=True).exists()


@pytest.mark.django_db(transaction=True)
def test_a_session_the_disable_did_not_end_is_ended_and_kicked_by_the_heartbeat(gateway, sub_device, closes):
    async def scenario():
        async with device_socket(gateway) as (socket, _):
            assert (await socket.call(p.COMBINE_LOGIN, sub_login(sub_device)))["code"] == p.SUCCESS
            await Device.objects.filter(pk=gateway.pk).aupdate(enabled=False)  # no receiver ran
            await heartbeat.beat()
            assert (await socket.closed())["code"] == websocket.CLOSE_KICKED

    run(scenario)
    assert closes == []
    assert not DeviceSession.objects.exists()
    assert {pk: reason for pk, (reason, _) in records_of(gateway, sub_device).items()} == {
        gateway.pk: EndReason.DISABLED, sub_device.pk: EndReason.GATEWAY_OFFLINE}


def connect(devices: list[Device], gateway: Device, subs: list[Device]) -> None:
    for device in devices:
        services.open_session(Device.objects.select_related("product").get(pk=device.pk), Transport.WEBSOCKET)
    session = services.open_session(Device.objects.select_related("product").get(pk=gateway.pk),
                                    Transport.WEBSOCKET)
    for sub in subs:
        services.open_session(Device.objects.select_related("product").get(pk=sub.pk), Transport.WEBSOCKET,
                              via=session)


@pytest.mark.django_db
def test_the_receiver_ends_a_chunk_in_a_fixed_number_of_queries(product, gateway, gateway_product, went_offline):
    devices = [Device.objects.create(ou=product.ou, product=product, device_key=f"q-{n:04d}", name=f"Q {n}")
               for n in range(40)]
    gateways = [gateway, Device.objects.create(ou=gateway.ou, product=gateway_product, device_key="gw-0002",
                                               name="Gateway 2")]
    subs = devices[30:]
    asset_services.add_sub_devices(gateway.ou.owner, gateways[0], subs[:5])
    asset_services.add_sub_devices(gateway.ou.owner, gateways[1], subs[5:])
    idle = devices[20:30]

    def disable(few: list[Device], gateway: Device, gateway_subs: list[Device]) -> int:
        connect(few, gateway, gateway_subs)
        ids = [d.pk for d in [*few, gateway, *idle]]
        Device.objects.filter(pk__in=ids, enabled=True).update(enabled=False)
        with CaptureQueriesContext(connection) as queries:
            kick_disabled(Device, device_ids=ids)
        assert not DeviceSession.objects.filter(device__in=[*few, gateway, *gateway_subs]).exists()
        return len(queries)

    small = disable(devices[:2], gateways[0], subs[:1])
    large = disable(devices[2:20], gateways[1], subs[5:])
    assert small == large <= 20
    assert went_offline == [sorted(d.pk for d in [*devices[:2], gateways[0], subs[0]]),
                            sorted(d.pk for d in [*devices[2:20], gateways[1], *subs[5:]])]
