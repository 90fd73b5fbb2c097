"""Messages to the connection that holds a device, whichever process that is.

Every transport joins the channel-layer group `device.<id>` for its device (and a gateway for
each logged-in sub-device), so a kick or a command reaches it without knowing where it runs.
Delivery is at most once (channels-redis): the MQTT broker also re-checks the database on a
timer, and a command nobody picks up ends as a timeout.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

logger = logging.getLogger(__name__)

KICK = "device.kick"
REPLACED = "device.replaced"
COMMAND = "device.command"
NOTICE = "device.notice"
SEND_CONCURRENCY = 100


def device_group(device_id: int) -> str:
    return f"device.{device_id}"


def _send(device_id: int, event: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(device_group(device_id), event)
    except Exception:  # noqa: BLE001 - a lost push must not fail the write that caused it
        logger.exception("could not reach the connection of device %s", device_id)


def _send_many(events: list[tuple[int, dict[str, Any]]]) -> None:
    """Many pushes in one hop to the event loop, a bounded number in flight (one async_to_sync per push
    costs milliseconds: a thousand kicks one by one would take seconds)."""
    layer = get_channel_layer()
    if layer is None or not events:
        return

    async def send_all() -> None:
        gate = asyncio.Semaphore(SEND_CONCURRENCY)

        async def one(device_id: int, event: dict[str, Any]) -> None:
            async with gate:
                try:
                    await layer.group_send(device_group(device_id), event)
                except Exception:  # noqa: BLE001 - a lost push must not fail the write that caused it
                    logger.exception("could not reach the connection of device %s", device_id)

        await asyncio.gather(*(one(device_id, event) for device_id, event in events))

    try:
        async_to_sync(send_all)()
    except Exception:  # noqa: BLE001
        logger.exception("could not reach the connections of %d devices", len(events))


def kick(device_ids: list[int], reason: str, code: int, *, ended: bool = False) -> None:
    """Ask whichever connection holds these devices to end their sessions now (`ended`: they were ended
    already, set-based: the connection only lets go)."""
    def event(device_id: int) -> dict[str, Any]:
        return {"type": KICK, "device_id": device_id, "reason": reason, "code": code,
                **({"ended": True} if ended else {})}

    if len(device_ids) == 1:
        _send(device_ids[0], event(device_ids[0]))
        return
    _send_many([(device_id, event(device_id)) for device_id in device_ids])


def replaced(device_id: int, session_id: str) -> None:
    """A new login took the device: every other connection holding it lets go quietly."""
    _send(device_id, {"type": REPLACED, "device_id": device_id, "session_id": session_id})


def command(device_id: int, invocation_id: int, message: dict) -> None:
    _send(device_id, {"type": COMMAND, "device_id": device_id, "invocation_id": invocation_id,
                      "message": message})


def notice(device_id: int, notice_id: int, message: dict) -> None:
    """A downstream request with no outcome to wait for (combine.disable/enable/delete to a gateway)."""
    _send(device_id, {"type": NOTICE, "device_id": device_id, "notice_id": notice_id, "message": message})
