"""Where device messages travel inside RabbitMQ, and the names MQTT topics get there.

The MQTT plugin publishes a device's message to `amq.topic` with the topic's `/` turned into `.`
(`/sys/pk/dk/thing/measurepoint/post` → `.sys.pk.dk.thing.measurepoint.post`) and delivers to a
device what is published there with its routing key. A deviceKey holding `.` therefore cannot be
told apart from the topic's levels (documented in docs/rabbitmq.md: such devices cannot use RabbitMQ).

    amq.topic ──(upstream keys only)──▶ enos.up.device (topic)
        ──.sys.pk.dk.# / .ext.session.pk.dk.# of each device that connected──▶ enos.up.{crc32(pk/dk) % S}
        └─(no binding yet: its alternate exchange)─▶ enos.up (x-consistent-hash on the routing key)
                                             ├──▶ enos.up.0   one queue per shard, single active consumer
                                             └──▶ enos.up.{S-1}
    amq.rabbitmq.event ──connection.created / connection.closed──▶ enos.events (single active consumer)
    enos.down (the portal's downlinks) ──#──▶ amq.topic (what devices subscribed to)
              └──.sys.pk.dk.# / .ext.session.pk.dk.#──▶ mqtt-subscription-<client id>qos1 (downlinks.py)

The portal publishes replies and commands to enos.down: they reach a device's own MQTT subscriptions through
amq.topic and, for a client that never subscribes to its command topics (the EnOS SDK: EnOS subscribes devices
server-side), through a binding to the MQTT plugin's own subscription queue of that connection (RabbitMQ
routes a message once to a queue however many paths lead there). Devices cannot publish to enos.down, so
their own replies on …/thing/service/…_reply never come back to them.

The MQTT plugin (3.10) gives a device's messages no header naming the device and a routing key per topic,
so a hash exchange alone could keep only each (device, topic) in order. The bridge therefore binds each
device that connects (connection.created) to its own shard, chosen by a hash of the device: from then on
all its messages, whatever the topic, go to that shard, and a shard has one active consumer, so they are
handled in order by one bridge. Messages that overtake that binding (the first ones of a device never seen
before) take the hash exchange. Bindings are durable and kept (a device keeps its shard; S must not
change under a running deployment). Bridge i of N consumes the shards k with k % N == i.
"""

from __future__ import annotations

import re
import zlib
from typing import Any

from ... import protocol as p

DEVICE_EXCHANGE = "amq.topic"  # the MQTT plugin's exchange (mqtt.exchange)
EVENT_EXCHANGE = "amq.rabbitmq.event"
UP_EXCHANGE = "enos.up"
DEVICE_UP_EXCHANGE = "enos.up.device"
DOWN_EXCHANGE = "enos.down"
SUBSCRIPTION_QUEUE_PREFIX = "mqtt-subscription-"  # the MQTT plugin's queue per client and QoS
EVENTS_QUEUE = "enos.events"
CONNECTION_EVENTS = ("connection.created", "connection.closed")

# what devices publish; replies to commands share the thing.service namespace with the commands
# themselves (`…/thing/service/restart` and `…_reply` differ inside one word): the bridge drops its own
_SYS_UP = (p.MEASUREPOINT_POST, p.MEASUREPOINT_POST_BATCH, p.MEASUREPOINT_RESUME, p.MEASUREPOINT_RESUME_BATCH,
           p.ATTRIBUTE_QUERY, p.ATTRIBUTE_UPDATE, p.ATTRIBUTE_DELETE, p.TAG_QUERY, p.TAG_UPDATE, p.TAG_DELETE,
           p.TSL_TEMPLATE_GET, p.TOPO_ADD, p.TOPO_GET, p.TOPO_DELETE, p.DEVICE_REGISTER, "thing.event.*.post",
           "thing.service.#")
_SESSION_UP = (p.COMBINE_LOGIN, p.COMBINE_LOGIN_BATCH, p.COMBINE_LOGOUT, f"{p.COMBINE_DISABLE}_reply",
               f"{p.COMBINE_ENABLE}_reply", f"{p.COMBINE_DELETE}_reply", f"{p.ACTIVATE_INFO}_reply")
UPSTREAM_KEYS = tuple(f".sys.*.*.{m}" for m in _SYS_UP) + tuple(f".ext.session.*.*.{m}" for m in _SESSION_UP)

_KEY_RE = re.compile(r"^\.(?P<root>sys|ext\.session)\.(?P<pk>[^.]+)\.(?P<dk>.+?)\.(?P<rest>(?:thing|combine)\..+)\Z")


def routing_key(topic: str) -> str:
    """The routing key the MQTT plugin gives a topic (and the key to publish with to reach it)."""
    return topic.replace("/", ".")


def topic_of(key: str) -> str | None:
    """The MQTT topic a device published to, from its routing key (None if it is no EnOS topic)."""
    match = _KEY_RE.match(key)
    if match is None:
        return None
    root = "sys" if match["root"] == "sys" else "ext/session"
    return f"/{root}/{match['pk']}/{match['dk']}/{match['rest'].replace('.', '/')}"


def subscription_queues(client_id: str) -> tuple[str, str]:
    """The MQTT plugin's (3.10) queues of a client's subscriptions, QoS 1 first; one exists once it subscribed."""
    return f"{SUBSCRIPTION_QUEUE_PREFIX}{client_id}qos1", f"{SUBSCRIPTION_QUEUE_PREFIX}{client_id}qos0"


def device_keys(product_key: str, device_key: str) -> tuple[str, str]:
    """Every topic of a device: where the portal sends it something (commands, replies, notices) on enos.down,
    and what it publishes on enos.up.device."""
    return f".sys.{product_key}.{device_key}.#", f".ext.session.{product_key}.{device_key}.#"


def device_shard(product_key: str, device_key: str, shards: int) -> int:
    """The shard of every message of a device (the same in every bridge process: no per-process salt)."""
    return zlib.crc32(f"{product_key}/{device_key}".encode()) % shards


def shard_queue(shard: int) -> str:
    return f"{UP_EXCHANGE}.{shard}"


def shards_of(index: int, count: int, shards: int) -> list[int]:
    """The shards bridge `index` of `count` consumes."""
    return [k for k in range(shards) if k % count == index]


def declare(channel: Any, shards: int, *, queue_type: str = "classic") -> None:
    """Declare (idempotently) the exchanges, queues and bindings; every bridge does it at start."""
    arguments = {"x-single-active-consumer": True, "x-queue-type": queue_type}
    channel.exchange_declare(UP_EXCHANGE, exchange_type="x-consistent-hash", durable=True)
    channel.exchange_declare(DEVICE_UP_EXCHANGE, exchange_type="topic", durable=True,
                             arguments={"alternate-exchange": UP_EXCHANGE})
    channel.exchange_declare(DOWN_EXCHANGE, exchange_type="topic", durable=True)
    channel.exchange_bind(destination=DEVICE_EXCHANGE, source=DOWN_EXCHANGE, routing_key="#")
    for key in UPSTREAM_KEYS:
        channel.exchange_bind(destination=DEVICE_UP_EXCHANGE, source=DEVICE_EXCHANGE, routing_key=key)
        # the bindings of earlier versions (amq.topic straight to enos.up) would deliver every message twice
        channel.exchange_unbind(destination=UP_EXCHANGE, source=DEVICE_EXCHANGE, routing_key=key)
    for shard in range(shards):
        channel.queue_declare(shard_queue(shard), durable=True, arguments=arguments)
        channel.queue_bind(shard_queue(shard), UP_EXCHANGE, routing_key="1")  # the weight of the shard
    channel.queue_declare(EVENTS_QUEUE, durable=True, arguments=arguments)
    for event in CONNECTION_EVENTS:
        channel.queue_bind(EVENTS_QUEUE, EVENT_EXCHANGE, routing_key=event)
