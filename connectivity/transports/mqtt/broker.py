"""Running the portal's MQTT broker: amqtt with the EnOS plugin, on one TCP listener."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from amqtt.broker import Broker

from ...db import in_thread
from ...handlers.session import forget_sessions
from ...models import Transport

logger = logging.getLogger(__name__)


def broker_config(host: str, port: int) -> dict:
    return {
        "listeners": {"default": {"type": "tcp", "bind": f"{host}:{port}", "max_connections": 0}},
        "timeout_disconnect_delay": 0,
        # only ours: no anonymous access, no $SYS topics, no broadcast between devices
        "plugins": {"connectivity.transports.mqtt.plugin.EnosBrokerPlugin": {}},
    }


async def serve(host: str, port: int, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (or SIGINT/SIGTERM)."""
    stop = stop or asyncio.Event()
    logging.getLogger("transitions").setLevel(logging.WARNING)  # amqtt's state machine chats at INFO
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not the main thread
            loop.add_signal_handler(sig, stop.set)
    # sessions a previous run held died with it: those devices are offline now
    forgotten = await in_thread(forget_sessions)(Transport.MQTT)
    if forgotten:
        logger.info("%d device(s) held by a previous broker run marked offline", forgotten)
    broker = Broker(broker_config(host, port))
    await broker.start()
    logger.info("MQTT broker listening on %s:%s", host, port)
    print(f"MQTT broker listening on {host}:{port}", flush=True)  # noqa: T201 - tests wait for this line
    try:
        await stop.wait()
    finally:
        await broker.shutdown()
