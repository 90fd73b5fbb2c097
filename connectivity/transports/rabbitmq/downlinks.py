"""Commands to clients that never subscribe to their command topics (the official EnOS SDK).

EnOS subscribes a device to its command topics server-side; the SDK subscribes only to the answer topic of
each request it sends, and RabbitMQ's MQTT plugin delivers a client only what reaches the queue of its
subscriptions. So once a device's connection has that queue (`mqtt-subscription-<client id>qos1`, made at
its first SUBSCRIBE: for the SDK, before its first request goes out), the bridge binds the device's
downlink keys on enos.down to it (topology.py). The plugin takes a message's topic from its routing key
and does not check it against the client's subscriptions (RabbitMQ 3.10, tested in
tests/connectivity/rabbitmq/test_sdk.py).

The queue is not declared ahead of the client: the plugin declares it with other arguments for a
persistent session (clean_session=false) and such a client's SUBSCRIBE would fail. The bridge looks for it
instead, a little less often each time, from the connection.created of the device until it is there, the
connection closed, or GIVE_UP_SECONDS passed (a device that never sends a request gets no commands).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import pika.exceptions

from .topology import DOWN_EXCHANGE, device_keys, subscription_queues

logger = logging.getLogger(__name__)
FIRST_LOOK_SECONDS = 0.1
LOOK_MAX_SECONDS = 5.0
GIVE_UP_SECONDS = 600.0
PENDING_MAX = 1_000_000


@dataclass
class Pending:
    client_id: str
    product_key: str
    device_key: str
    since: float
    due: float
    pause: float = FIRST_LOOK_SECONDS


class DownlinkRoutes:
    """Connections waiting for their subscription queue (by connection name), looked for on `tick`."""

    def __init__(self) -> None:
        self.pending: dict[str, Pending] = {}
        self.bound: dict[str, str] = {}  # connection name → the queue its device's downlinks are bound to
        self._probe: Any = None  # a channel of its own: a passive declare of a missing queue closes it

    def watch(self, name: str, client_id: str, product_key: str, device_key: str) -> None:
        if not client_id or len(self.pending) >= PENDING_MAX:
            return
        now = time.monotonic()
        self.pending[name] = Pending(client_id, product_key, device_key, since=now, due=now)

    def forget(self, name: str) -> None:
        """The connection closed: its queue (auto-delete) went with it, and its bindings."""
        self.pending.pop(name, None)
        self.bound.pop(name, None)

    def is_bound(self, name: str) -> bool:
        return name in self.bound

    def tick(self, connection: Any) -> None:
        """Bind every due connection whose subscription queue is there now (on the caller's AMQP connection)."""
        now = time.monotonic()
        for name, pending in list(self.pending.items()):
            if pending.due > now:
                continue
            queue = self._existing(connection, subscription_queues(pending.client_id))
            if queue is not None and self._bind(connection, queue, pending):
                self.bound[name] = queue
                del self.pending[name]
            elif now - pending.since > GIVE_UP_SECONDS:
                logger.info("%s never subscribed to anything: it gets no commands through RabbitMQ", name)
                del self.pending[name]
            else:
                pending.due = now + pending.pause
                pending.pause = min(pending.pause * 2, LOOK_MAX_SECONDS)

    def reset(self) -> None:
        """The AMQP connection is gone (its channel with it)."""
        self._probe = None

    def _channel(self, connection: Any) -> Any:
        if self._probe is None or not self._probe.is_open:
            self._probe = connection.channel()
        return self._probe

    def _bind(self, connection: Any, queue: str, pending: Pending) -> bool:
        try:
            for key in device_keys(pending.product_key, pending.device_key):
                self._channel(connection).queue_bind(queue, DOWN_EXCHANGE, routing_key=key)
        except pika.exceptions.ChannelClosedByBroker:  # the connection closed in between: its queue went
            self._probe = None
            return False
        return True

    def _existing(self, connection: Any, queues: tuple[str, ...]) -> str | None:
        for queue in queues:
            try:
                self._channel(connection).queue_declare(queue, passive=True)
            except pika.exceptions.ChannelClosedByBroker:  # 404: not (yet) there
                self._probe = None
                continue
            return queue
        return None
