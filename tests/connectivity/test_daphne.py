"""Once end to end: a simulated device against a real daphne, and a real uvicorn (the server for
device sockets at scale), with the Redis channel layer.

Login activates, reports land, a command issued in this (other) process reaches the device and
its reply comes back, and disabling kicks the device across processes, then 723.
"""

from __future__ import annotations

import asyncio

import pytest

from assets import services as asset_services
from assets.models import Device, DeviceStatus
from connectivity import protocol as p
from connectivity import services
from connectivity.models import CommandStatus, LatestValue
from connectivity.simulator import LoginFailed, SimulatedDevice, Triple
from tests.processes import asgi_server
from tests.waiting import wait_for

from .conftest import closing, run, status_of

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("server", ["daphne", "uvicorn"])
def test_a_device_against_a_real_server_with_redis(server, device, writer, redis_everywhere):
    triple = Triple(device.product.product_key, device.device_key, device.device_secret)
    with asgi_server(server, REDIS_URL=redis_everywhere, CONNECTIVITY_LATEST_FLUSH_SECONDS="0.1") as base:
        url = base.replace("http://", "ws://") + "/ws/device/"

        async def scenario():
            simulated = SimulatedDevice(triple, url=url, values=lambda: {"power": 42.0})
            await simulated.connect()
            await asyncio.to_thread(closing(wait_for), lambda: status_of(device) == DeviceStatus.ONLINE)
            assert (await simulated.report())["code"] == p.SUCCESS
            refused = await simulated.report({"voltage": 1})
            assert refused["code"] == p.INVALID_VALUE
            invocation = await asyncio.to_thread(closing(services.invoke_service), writer, device, "restart",
                                                 {"delay": 1}, timeout=10)
            assert invocation.status == CommandStatus.OK, invocation.outcome()
            assert invocation.reply == {"received": {"delay": 1}}
            await asyncio.to_thread(closing(asset_services.disable_device), writer, device)
            await asyncio.wait_for(simulated.closed.wait(), 10)
            with pytest.raises(LoginFailed) as refusal:
                await SimulatedDevice(triple, url=url).connect()
            assert refusal.value.code == p.DEVICE_DISABLED

        run(scenario)
        wait_for(lambda: not Device.objects.get(pk=device.pk).online)
        wait_for(lambda: LatestValue.objects.filter(device=device, identifier="power").exists())
    assert LatestValue.objects.get(device=device, identifier="power").value == 42.0
    assert status_of(device) == DeviceStatus.DISABLED
