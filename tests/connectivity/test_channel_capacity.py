"""A burst of pushes to the connections of one server process all arrive (channels-redis keeps the messages of
a process's channels in one Redis key, checked against the capacity of a channel: at 1,000, the 1,001st push
queued for one process was dropped, and a bulk Disable left a device connected until the session sweep)."""

from __future__ import annotations

import asyncio
import uuid

from asgiref.sync import async_to_sync
from channels_redis.core import RedisChannelLayer

from enos_portal.env import channel_layer_from_url
from tests.conftest import REDIS_URL

BURST = 1_200  # more than the per-channel capacity, all for channels of this one process


def test_a_kick_burst_to_one_process_loses_nothing():
    config = channel_layer_from_url(REDIS_URL)["CONFIG"]
    layer = RedisChannelLayer(**config, prefix=f"test-capacity-{uuid.uuid4().hex}")

    async def burst() -> int:
        channels = [await layer.new_channel() for _ in range(BURST)]
        for n, channel in enumerate(channels):
            await layer.group_add(f"device.{n}", channel)
        gate = asyncio.Semaphore(100)

        async def kick(n: int) -> None:
            async with gate:
                await layer.group_send(f"device.{n}", {"type": "device.kick", "device_id": n})

        await asyncio.gather(*(kick(n) for n in range(BURST)))  # nothing read meanwhile
        received = [await asyncio.wait_for(layer.receive(channel), timeout=30) for channel in channels]
        await layer.flush()
        return sum(1 for n, message in enumerate(received) if message["device_id"] == n)

    assert async_to_sync(burst)() == BURST
