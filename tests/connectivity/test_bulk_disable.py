"""A bulk disable (assets.bulk.set_enabled) kicks every connected device of the chunk in one go, and
their next logins are refused with 723; a bulk delete kicks them too."""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack

import pytest
from channels.db import database_sync_to_async

from assets import bulk
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity.models import DeviceSession

from .conftest import device_socket, run

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def fleet(product) -> list[Device]:
    return [Device.objects.create(ou=product.ou, product=product, device_key=f"bulk-{n:04d}", name=f"Bulk {n}",
                                  attributes={"serial": f"SN-{n}"}) for n in range(4)]


def test_a_bulk_disable_kicks_every_connected_device(writer, fleet, globex_device):
    connected, idle = fleet[:3], fleet[3]

    async def scenario():
        async with AsyncExitStack() as stack:
            sockets = [(await stack.enter_async_context(device_socket(device)))[0] for device in connected]
            other = (await stack.enter_async_context(device_socket(globex_device)))[0]
            outcome = await database_sync_to_async(bulk.set_enabled)(
                writer, [d.pk for d in fleet] + [globex_device.pk], False, job_id="job-1")
            assert outcome.done == [d.pk for d in fleet]
            closes = await asyncio.gather(*(socket.closed() for socket in sockets))
            assert [close["code"] for close in closes] == [4003] * len(sockets)
            assert (await other.call(p.PING, {}))["code"] == 200  # another OU's device stays connected
        async with device_socket(connected[0], expect_code=p.DEVICE_DISABLED):
            pass

    run(scenario)
    assert {d.status for d in Device.objects.filter(pk__in=[d.pk for d in fleet])} == {DeviceStatus.DISABLED}
    assert not Device.objects.filter(pk__in=[d.pk for d in connected], online=True).exists()
    assert not DeviceSession.objects.filter(device__in=connected).exists()
    assert idle.pk not in DeviceSession.objects.values_list("device_id", flat=True)


def test_a_bulk_delete_kicks_the_connected_devices(writer, fleet):
    async def scenario():
        async with AsyncExitStack() as stack:
            sockets = [(await stack.enter_async_context(device_socket(device)))[0] for device in fleet[:2]]
            outcome = await database_sync_to_async(bulk.delete_devices)(writer, [d.pk for d in fleet])
            assert len(outcome.done) == len(fleet)
            closes = await asyncio.gather(*(socket.closed() for socket in sockets))
            assert {close["code"] for close in closes} == {4003}

    run(scenario)
    assert not Device.objects.filter(pk__in=[d.pk for d in fleet]).exists()


def test_a_disabled_device_whose_kick_was_lost_is_kicked_at_the_next_heartbeat(device):
    from connectivity.heartbeat import heartbeat

    async def scenario():
        async with device_socket(device) as (socket, _):
            # disabled with no kick (as if the channel layer dropped it): the connection is still there
            await Device.objects.filter(pk=device.pk).aupdate(enabled=False)
            assert (await socket.call(p.PING, {}))["code"] == 200
            await heartbeat.beat()
            assert (await socket.closed())["code"] == 4003

    run(scenario)
    assert not DeviceSession.objects.filter(device=device).exists()
