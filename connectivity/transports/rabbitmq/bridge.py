"""The bridge between RabbitMQ and the portal (`manage.py run_rabbitmq_bridge`).

Two consumers, each on its own AMQP connection and thread:
- device messages from this bridge's shards (topology.py), handled by the same dispatch table as every
  other transport, the reply published back to enos.down (topology.py) with the device's routing key;
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
from ...latest import LatestValueBuffer, store_latest_values
from ...models import DeviceSession, Transport
from ...sessions import DeviceRef, Session
from .. import brokers
from . import management
from .downlinks import DownlinkRoutes
from .topology import (
    CONNECTION_EVENTS,
    DEVICE_UP_EXCHANGE,
    DOWN_EXCHANGE,
    EVENT_EXCHANGE,
    EVENTS_QUEUE,
    declare,
    device_keys,
    device_shard,
    routing_key,
    shard_queue,
    shards_of,
    topic_of,
)

logger = logging.getLogger(__name__)
RECONNECT_MAX_SECONDS = 5.0
SESSION_WAIT_SECONDS = 3.0
# a device's session is looked up once, not per message: every bridge hears every connection event on a
# queue of its own and then looks the device's session up again (after a grace for the writer of the event)
SESSION_CACHE_SECONDS = 300.0
DETACHED_CACHE_SECONDS = 5.0  # a device whose connection.created is not handled yet
EVENT_GRACE_SECONDS = 2.0
SESSION_CACHE_SIZE = 1_000_000  # a gateway's message may overtake its connection.created on another queue
ROUTED_CACHE_SIZE = 1_000_000  # devices whose shard binding this bridge made (it is durable: made once)
MQTT_QOS_HEADER = "x-mqtt-publish-qos"  # set by the MQTT plugin: absent on the portal's own downlinks
APP_ID = "enos-portal"


@dataclass
class BridgeStats:
    messages: int = 0
    events: int = 0
    started: float = field(default_factory=time.monotonic)


Handle = Callable[[Any, Any, Any, bytes, "LatestValueBuffer | None"], None]


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


REPLY_PROPERTIES = pika.BasicProperties(app_id=APP_ID, content_type="application/json")


def publish_later(channel: Any, exchange: str, key: str, body: bytes) -> None:
    """Publish without pika's BlockingChannel flushing the socket after every message (a poll and a send
    each): the frames wait in the connection's output buffer and go out at its next I/O — at the latest
    with the round's acknowledgement, which follows them in the stream, so a message is never acknowledged
    before its reply was handed over."""
    impl = getattr(channel, "_impl", None)
    if impl is None:  # not a BlockingChannel
        channel.basic_publish(exchange, key, body, REPLY_PROPERTIES)
    else:
        impl.basic_publish(exchange=exchange, routing_key=key, body=body, properties=REPLY_PROPERTIES)


def release_database() -> None:
    """Drop this thread's database connection if it broke (the next message opens a new one)."""
    with contextlib.suppress(Exception):
        close_old_connections()


class Consumer(threading.Thread):
    """One AMQP connection consuming some queues until stopped, reconnecting when it breaks."""

    def __init__(self, name: str, url: str, queues: list[str], handle: Handle, *, prefetch: int, shards: int,
                 stop: threading.Event, batched: bool = False, queue_type: str = "classic",
                 routes: DownlinkRoutes | None = None) -> None:
        super().__init__(name=name, daemon=True)
        self.url, self.queues, self.handle, self.prefetch, self.shards = url, queues, handle, prefetch, shards
        self.stop = stop
        self.queue_type = queue_type
        self.routes = routes  # connections whose subscription queue gets the downlink bindings (events only)
        # batched: latest values are buffered, written once per round, and only then the round's messages acked
        self.latest: LatestValueBuffer | None = LatestValueBuffer() if batched else None
        self.unacked: int | None = None  # the newest delivery tag handled and not yet acknowledged
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
            declare(channel, self.shards, queue_type=self.queue_type)
            channel.basic_qos(prefetch_count=self.prefetch)
            queues = self.queues
            if not queues:  # this bridge's own copy of the connection events (it forgets cached sessions)
                queue = channel.queue_declare("", exclusive=True, auto_delete=True).method.queue
                for event in CONNECTION_EVENTS:
                    channel.queue_bind(queue, EVENT_EXCHANGE, routing_key=event)
                queues = [queue]
            for queue in queues:
                channel.basic_consume(queue, lambda ch, method, props, body: self._one(ch, method, props, body))
            self.channel = channel
            self.ready.set()
            logger.info("%s: consuming %s", self.name, ", ".join(queues))
            while not self.stop.is_set():
                busy = self.latest is not None or (self.routes is not None and self.routes.pending)
                connection.process_data_events(time_limit=0.05 if busy else 0.5)
                self._settle(channel)
                if self.routes is not None:
                    self.routes.tick(connection)
        finally:
            if self.routes is not None:
                self.routes.reset()
            self.unacked = None
            if self.latest is not None:
                self.latest.take()  # unacknowledged: RabbitMQ hands these messages out again
            self.channel = None
            if connection.is_open:
                connection.close()

    def _settle(self, channel: Any) -> None:
        """Write the round's latest values, then acknowledge its messages (all up to the newest at once)."""
        if self.unacked is None:
            return
        if self.latest is not None:
            try:
                store_latest_values(self.latest.take())
            except DatabaseError:
                logger.exception("%s: could not store latest values; the messages go back to their queues", self.name)
                release_database()
                channel.basic_nack(self.unacked, multiple=True, requeue=True)
                self.unacked = None
                self.stop.wait(1)
                return
        channel.basic_ack(self.unacked, multiple=True)
        self.unacked = None

    def _one(self, channel: Any, method: Any, properties: Any, body: bytes) -> None:
        try:
            self.handle(channel, method, properties, body, self.latest)
        except DatabaseError:  # the database is away: the message waits in RabbitMQ, not lost
            logger.exception("%s: database error; the message goes back to its queue", self.name)
            release_database()
            channel.basic_nack(method.delivery_tag, requeue=True)
            self.stop.wait(1)
            return
        except Exception:  # a poison message must not stop the shard (it is dropped, and logged)
            logger.exception("%s: could not handle a message on %s", self.name, method.routing_key)
            release_database()
        self.unacked = method.delivery_tag


class Bridge:
    """Bridge `index` of `count`: its shards of device messages, and (active on one bridge) connection events."""

    def __init__(self, url: str, *, index: int = 0, count: int = 1, shards: int = 8, prefetch: int = 200,
                 queue_type: str = "classic") -> None:
        self.url, self.index, self.count, self.shards = url, index, count, shards
        self.stop_event = threading.Event()
        self.stats = BridgeStats()
        self._missing: dict[tuple[str, str], float] = {}  # devices whose session did not come: when we gave up
        self._sessions: dict[tuple[str, str], tuple[float, Session]] = {}  # (when looked up, session) per device
        self._touched: dict[tuple[str, str], float] = {}  # when a connection event of the device was seen
        # one consumer (connection and thread) per shard: a shard's messages in order, shards side by side
        self.consumers = [
            Consumer(f"bridge-{index}-shard-{k}", url, [shard_queue(k)], self.on_message, prefetch=prefetch,
                     shards=shards, stop=self.stop_event, batched=True, queue_type=queue_type)
            for k in shards_of(index, count, shards)]
        self.downlinks = DownlinkRoutes()
        self.routed: set[tuple[str, str]] = set()  # devices bound to their shard (by this process)
        self.consumers.append(Consumer(f"bridge-{index}-events", url, [EVENTS_QUEUE], self.on_event, prefetch=50,
                                       shards=shards, stop=self.stop_event, queue_type=queue_type,
                                       routes=self.downlinks))
        self.consumers.append(Consumer(f"bridge-{index}-forget", url, [], self.forget, prefetch=500, shards=shards,
                                       stop=self.stop_event, queue_type=queue_type))

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

    def on_message(self, channel: Any, method: Any, properties: Any, body: bytes,
                   latest: LatestValueBuffer | None = None) -> None:
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
            publish_later(channel, DOWN_EXCHANGE, routing_key(topic), json.dumps(message).encode())
            return True

        brokers.answer(session, topic_name, body, publish, latest)

    def session_for(self, product_key: str, device_key: str, *, combine: bool) -> Session | None:
        """The connection the message came through; without one yet (its connection.created is still on
        the way, or already past), the device's own as RabbitMQ authorized it (never for combine.*: a
        gateway's sub-device logins need the gateway's session, so they wait for it a moment)."""
        key = (product_key, device_key)
        cached = self._sessions.get(key)
        if cached is not None and self._fresh(key, cached[0], detached=not cached[1].session_id):
            return cached[1]
        looked_up = time.monotonic()
        session = self._find_session(key, combine=combine)
        if session is not None:
            self._sessions[key] = (looked_up, session)
            if len(self._sessions) > SESSION_CACHE_SIZE:
                self._sessions.clear()
        return session

    def _fresh(self, key: tuple[str, str], cached_at: float, *, detached: bool) -> bool:
        """A cached session holds until a connection event of its device (seen by every bridge) plus a grace
        for the bridge writing that event's session to have written it."""
        now = time.monotonic()
        if now - cached_at > (DETACHED_CACHE_SECONDS if detached else SESSION_CACHE_SECONDS):
            return False
        touched = self._touched.get(key)
        return touched is None or cached_at > touched + EVENT_GRACE_SECONDS

    def forget(self, channel: Any, method: Any, properties: Any, body: bytes,
               latest: LatestValueBuffer | None = None) -> None:
        """A connection event, this bridge's copy: the device's cached session is stale from now on."""
        headers = properties.headers or {}
        if method.routing_key == "connection.created":
            device_key, _, product_key = _text(headers.get("user")).partition("&")
            self._touch((product_key, device_key))
        else:
            name = _text(headers.get("name"))
            for key, (_at, session) in list(self._sessions.items()):
                if session.client_id == name:
                    self._touch(key)

    def _touch(self, key: tuple[str, str]) -> None:
        self._touched[key] = time.monotonic()
        if len(self._touched) > SESSION_CACHE_SIZE:
            self._touched.clear()
            self._sessions.clear()

    def _find_session(self, key: tuple[str, str], *, combine: bool) -> Session | None:
        product_key, device_key = key
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

    def on_event(self, channel: Any, method: Any, properties: Any, body: bytes,
                 latest: LatestValueBuffer | None = None) -> None:
        self.stats.events += 1
        headers = properties.headers or {}
        name = _text(headers.get("name"))
        if method.routing_key == "connection.created":
            if "MQTT" not in _text(headers.get("protocol")).upper():
                return
            client_id = client_id_of(headers.get("variable_map"))
            session = self.connected(name, client_id, _text(headers.get("user")), address_of(headers.get("peer_host")))
            if session is not None and session.session_id:
                self.route_device(channel, session.device.product_key, session.device.device_key)
                self.downlinks.watch(name, client_id, session.device.product_key, session.device.device_key)
        elif method.routing_key == "connection.closed":
            self.downlinks.forget(name)
            session = brokers.session_by_client(Transport.RABBITMQ, name)
            if session is not None:
                self._sessions.pop(session.device.key, None)
                close_session(session, "disconnected")

    def route_device(self, channel: Any, product_key: str, device_key: str) -> None:
        """All of a device's messages to its one shard from now on (topology.py: per-device order)."""
        key = (product_key, device_key)
        if key in self.routed:
            return
        queue = shard_queue(device_shard(product_key, device_key, self.shards))
        for binding in device_keys(product_key, device_key):
            channel.queue_bind(queue, DEVICE_UP_EXCHANGE, routing_key=binding)
        if len(self.routed) >= ROUTED_CACHE_SIZE:
            self.routed.clear()
        self.routed.add(key)

    def connected(self, name: str, client_id: str, username: str, peer: str) -> Session | None:
        device_key, _, product_key = username.partition("&")
        self._sessions.pop((product_key, device_key), None)
        older = list(DeviceSession.objects.filter(
            device__product__product_key=product_key, device__device_key=device_key, transport=Transport.RABBITMQ,
            via__isnull=True).exclude(client_id=name).values_list("client_id", flat=True))
        session = brokers.connected(Transport.RABBITMQ, client_id, username, client_id=name, peer=peer,
                                    publish=management.publish, kick=management.kick)
        if session is not None and session.session_id:
            for old in older:  # the newest connection wins: RabbitMQ keeps both open unless told
                management.kick(old)
        return session

