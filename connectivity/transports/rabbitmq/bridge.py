"""The bridge between RabbitMQ and the portal (`manage.py run_rabbitmq_bridge`).

Two consumers, each on its own AMQP connection and thread:
- device messages from this bridge's shards (topology.py), handled by the same dispatch table as every
  other transport, the reply published back to amq.topic with the device's routing key;
- connection events (rabbitmq_event_exchange): connection.created opens the device's session (Online;
  the newest connection wins, an older one of the same device is kicked), connection.closed ends it
  (connection.closed names only the connection: the session row keeps name → device).

A message is acknowledged after it was handled (and its reply handed to RabbitMQ), so a bridge that
dies loses nothing RabbitMQ accepted: unacknowledged messages go to the next consumer of the shard.
A broken connection (RabbitMQ restarted) is reopened with a growing pause, up to RECONNECT_MAX_SECONDS.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pika
import pika.exceptions
from django.db import DatabaseError, close_old_connections

from ... import protocol as p
from ...handlers.session import close_session, find_device
from ...models import DeviceSession, Transport
from ...sessions import DeviceRef, Session
from .. import brokers
from . import management
from .topology import DEVICE_EXCHANGE, EVENTS_QUEUE, declare, routing_key, shard_queue, shards_of, topic_of

logger = logging.getLogger(__name__)
RECONNECT_MAX_SECONDS = 5.0
SESSION_WAIT_SECONDS = 3.0  # a gateway's message may overtake its connection.created on another queue
MQTT_QOS_HEADER = "x-mqtt-publish-qos"  # set by the MQTT plugin: absent on the portal's own downlinks
APP_ID = "enos-portal"


@dataclass
class BridgeStats:
    messages: int = 0
    events: int = 0
    started: float = field(default_factory=time.monotonic)


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else "" if value is None else str(value)


_CLIENT_ID_RE = re.compile(r'<<"client_id">>\s*=>\s*<<"(?P<id>(?:[^"\\]|\\.)*)">>')


def client_id_of(variable_map: Any) -> str:
    """The MQTT client id in a connection.created event's variable_map (an Erlang map, printed)."""
    if isinstance(variable_map, dict):
        return _text(variable_map.get("client_id"))
    match = _CLIENT_ID_RE.search(_text(variable_map))
    return match["id"].replace('\\"', '"') if match else ""


def address_of(peer_host: Any) -> str:
    """The client address of a connection.created event: an Erlang tuple such as {127,0,0,1}."""
    text = _text(peer_host)
    parts = text.strip("{}").split(",")
    try:
        numbers = [int(part) for part in parts]
        if len(numbers) == 4:
            return str(ipaddress.IPv4Address(bytes(numbers)))
        if len(numbers) == 8:
            address = ipaddress.IPv6Address(b"".join(n.to_bytes(2, "big") for n in numbers))
            return str(address.ipv4_mapped or address)
    except ValueError:
        pass
    return text


def release_database() -> None:
    """Drop this thread's database connection if it broke (the next message opens a new one)."""
    with contextlib.suppress(Exception):
        close_old_connections()


class Consumer(threading.Thread):
    """One AMQP connection consuming some queues until stopped, reconnecting when it breaks."""

    def __init__(self, name: str, url: str, queues: list[str], handle: Callable[[Any, Any, Any, bytes], None],
                 *, prefetch: int, shards: int, stop: threading.Event) -> None:
        super().__init__(name=name, daemon=True)
        self.url, self.queues, self.handle, self.prefetch, self.shards = url, queues, handle, prefetch, shards
        self.stop = stop
        self.ready = threading.Event()
        self.channel: Any = None

    def run(self) -> None:
        pause = 0.2
        while not self.stop.is_set():
            try:
                self._consume()
                pause = 0.2
            except (pika.exceptions.AMQPError, OSError) as problem:
                self.ready.clear()
                logger.warning("%s: RabbitMQ connection lost (%r); reconnecting in %.1f s", self.name, problem, pause)
                self.stop.wait(pause)
                pause = min(pause * 2, RECONNECT_MAX_SECONDS)
            finally:
                release_database()

    def _consume(self) -> None:
        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = connection.channel()
            declare(channel, self.shards)
            channel.basic_qos(prefetch_count=self.prefetch)
            for queue in self.queues:
                channel.basic_consume(queue, lambda ch, method, props, body: self._one(ch, method, props, body))
            self.channel = channel
            self.ready.set()
            logger.info("%s: consuming %s", self.name, ", ".join(self.queues))
            while not self.stop.is_set():
                connection.process_data_events(time_limit=0.5)
        finally:
            self.channel = None
            if connection.is_open:
                connection.close()

    def _one(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        try:
            self.handle(channel, method, properties, body)
        except DatabaseError:  # the database is away: the message waits in RabbitMQ, not lost
            logger.exception("%s: database error; the message goes back to its queue", self.name)
            release_database()
            channel.basic_nack(method.delivery_tag, requeue=True)
            self.stop.wait(1)
            return
        except Exception:  # a poison message must not stop the shard (it is dropped, and logged)
            logger.exception("%s: could not handle a message on %s", self.name, method.routing_key)
            release_database()
        channel.basic_ack(method.delivery_tag)


class Bridge:
    """Bridge `index` of `count`: its shards of device messages, and (active on one bridge) connection events."""

    def __init__(self, url: str, *, index: int = 0, count: int = 1, shards: int = 8, prefetch: int = 200) -> None:
        self.url, self.index, self.count, self.shards = url, index, count, shards
        self.stop_event = threading.Event()
        self.stats = BridgeStats()
        self._missing: dict[tuple[str, str], float] = {}  # devices whose session did not come: when we gave up
        queues = [shard_queue(k) for k in shards_of(index, count, shards)]
        self.consumers = [
            Consumer(f"bridge-{index}-messages", url, queues, self.on_message, prefetch=prefetch, shards=shards,
                     stop=self.stop_event),
            Consumer(f"bridge-{index}-events", url, [EVENTS_QUEUE], self.on_event, prefetch=50, shards=shards,
                     stop=self.stop_event),
        ]

    def start(self) -> None:
        for consumer in self.consumers:
            consumer.start()

    def wait_ready(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        return all(c.ready.wait(max(deadline - time.monotonic(), 0)) for c in self.consumers)

    def stop(self, timeout: float = 10) -> None:
        self.stop_event.set()
        for consumer in self.consumers:
            consumer.join(timeout)

    # --- device messages ---------------------------------------------------------------------------

    def on_message(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.stats.messages += 1
        if MQTT_QOS_HEADER not in (properties.headers or {}) or properties.app_id == APP_ID:
            return  # the portal's own downlink (thing.service.# catches commands and their replies alike)
        topic_name = topic_of(method.routing_key)
        parsed = p.parse_topic(topic_name or "")
        if topic_name is None or parsed is None:
            return
        session = self.session_for(parsed.product_key, parsed.device_key, combine=parsed.method.startswith("combine."))
        if session is None:
            return

        def publish(topic: str, message: dict) -> bool:
            channel.basic_publish(DEVICE_EXCHANGE, routing_key(topic), json.dumps(message).encode(),
                                  pika.BasicProperties(app_id=APP_ID, content_type="application/json"))
            return True

        brokers.answer(session, topic_name, body, publish)

    def session_for(self, product_key: str, device_key: str, *, combine: bool) -> Session | None:
        """The connection the message came through; without one yet (its connection.created is still on
        the way, or already past), the device's own as RabbitMQ authorized it (never for combine.*: a
        gateway's sub-device logins need the gateway's session, so they wait for it a moment)."""
        key = (product_key, device_key)
        deadline = time.monotonic() + (SESSION_WAIT_SECONDS if combine and key not in self._missing else 0)
        while True:
            session = brokers.session_of(
                DeviceSession.objects.filter(device__product__product_key=product_key, device__device_key=device_key,
                                             transport=Transport.RABBITMQ).select_related("device__product").first())
            if session is not None:
                self._missing.pop(key, None)
                return session
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        if combine:
            self._missing[key] = time.monotonic()
            if len(self._missing) > 10_000:
                self._missing.clear()
            return None
        device = find_device(product_key, device_key)
        if device is None or not device.enabled:
            return None
        return Session(session_id="", transport=Transport.RABBITMQ, device=DeviceRef.of(device))

    # --- connection events -------------------------------------------------------------------------

    def on_event(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        self.stats.events += 1
        headers = properties.headers or {}
        name = _text(headers.get("name"))
        if method.routing_key == "connection.created":
            if "MQTT" not in _text(headers.get("protocol")).upper():
                return
            self.connected(name, client_id_of(headers.get("variable_map")), _text(headers.get("user")),
                           address_of(headers.get("peer_host")))
        elif method.routing_key == "connection.closed":
            session = brokers.session_by_client(Transport.RABBITMQ, name)
            if session is not None:
                close_session(session, "disconnected")

    def connected(self, name: str, client_id: str, username: str, peer: str) -> Session | None:
        device_key, _, product_key = username.partition("&")
        older = list(DeviceSession.objects.filter(
            device__product__product_key=product_key, device__device_key=device_key, transport=Transport.RABBITMQ,
            via__isnull=True).exclude(client_id=name).values_list("client_id", flat=True))
        session = brokers.connected(Transport.RABBITMQ, client_id, username, client_id=name, peer=peer,
                                    publish=management.publish, kick=management.kick)
        if session is not None and session.session_id:
            for old in older:  # the newest connection wins: RabbitMQ keeps both open unless told
                management.kick(old)
        return session

