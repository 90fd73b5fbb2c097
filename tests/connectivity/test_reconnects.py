"""Sessions that cannot lie: a device that closes and reconnects at once (the SDK's auto-reconnect)
ends Online every time, however the old connection's close and the new login interleave."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from assets.models import Device, DeviceStatus
from connectivity.models import DeviceSession
from connectivity.routing import DEVICE_PATH, device_application

from .conftest import DeviceSocket, login_message, run

pytestmark = pytest.mark.django_db(transaction=True)

CYCLES = 200


def state(device: Device) -> tuple[DeviceStatus, int]:
    device.refresh_from_db()
    return device.status, DeviceSession.objects.filter(device=device).count()


async def logged_in(message: dict) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(device_application, f"/{DEVICE_PATH}")
    connected, _ = await communicator.connect()
    assert connected
    socket = DeviceSocket(communicator)
    await socket.send(message)
    answer = await socket.receive(timeout=10)
    assert answer["code"] == 200, answer
    return communicator


def test_two_hundred_immediate_reconnects_over_the_websocket_end_online_every_time(device):
    messages = [login_message(device, request_id=str(n)) for n in range(CYCLES + 1)]

    async def scenario():
        current = await logged_in(messages[0])
        for cycle in range(1, CYCLES + 1):
            # the old connection's close and the new login race, as when a device reconnects at once
            closing = asyncio.ensure_future(current.disconnect(timeout=10))
            current, _ = await asyncio.gather(logged_in(messages[cycle]), closing)
            status, sessions = await database_sync_to_async(state)(device)
            assert (status, sessions) == (DeviceStatus.ONLINE, 1), f"cycle {cycle}: {status}, {sessions} sessions"
        await current.disconnect(timeout=10)
        return await database_sync_to_async(state)(device)

    assert run(scenario) == (DeviceStatus.OFFLINE, 0)


def test_a_new_login_before_the_old_close_replaces_the_session_and_the_late_close_changes_nothing(device):
    async def scenario():
        old = await logged_in(login_message(device, request_id="1"))
        new = await logged_in(login_message(device, request_id="2"))
        # the older connection is told to let go; its close must not take the device offline
        output = await old.receive_output(timeout=5)
        assert output == {"type": "websocket.close", "code": 4004}
        await old.disconnect(timeout=5)
        after_old = await database_sync_to_async(state)(device)
        await new.disconnect(timeout=5)
        return after_old

    assert run(scenario) == (DeviceStatus.ONLINE, 1)
