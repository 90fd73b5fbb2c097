"""The portal's MQTT broker plugin (amqtt): EnOS authentication at CONNECT, per-device topic rules,
online/offline, and every accepted message handed to the connectivity services.

Downstream messages (replies, commands, the activation secret) go straight to the device's
own connection; the broker never relays one device's messages to another.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from amqtt.contexts import Action, BaseContext
from amqtt.plugins.base import BaseAuthPlugin, BaseTopicPlugin
from amqtt.session import Session as AmqttSession
from channels.layers import get_channel_layer
from django.utils.timezone import now

from accounts import throttle
from tracing.push import pusher

from ... import bus
from ... import protocol as p
from ...conf import broker_sweep_seconds, keepalive_seconds
from ...db import in_thread
from ...handlers import answer_on_loop, handle_message
from ...handlers.commands import (
    MAX_COMMAND_TIMEOUT,
    claim_command,
    claim_notice,
    undelivered_commands,
    unsent_notices,
)
from ...handlers.session import (
    LoginRefused,
    activation_message,
    authenticate,
    close_session,
    end_sub_session,
    open_session,
    refuse_publish,
    replaced_sessions,
    sessions_to_end,
)
from ...heartbeat import heartbeat
from ...latest import buffer as latest_buffer
from ...models import Transport
from ...periodic import every
from ...sessions import Session

logger = logging.getLogger(__name__)
GROUP_REFRESH_SECONDS = 3600


@dataclass
class Connection:
    """One MQTT client of the broker and the device session it carries."""

    client_id: str
    session: Session
    amqtt: AmqttSession
    keepalive: float
    last_seen: float
    inbox: asyncio.Queue = field(default_factory=asyncio.Queue)
    worker: asyncio.Task | None = None
    close_reason: str = "connection closed"
    joined: set[int] = field(default_factory=set)
    ended: bool = False  # its session was ended set-based (a disable): closing it ends nothing more

    def held(self) -> dict[int, str]:
        """Device id → secret stamp of every device this connection speaks for."""
        held = {self.session.device.id: self.session.device.secret_stamp}
        held.update({sub.id: sub.secret_stamp for sub in list(self.session.sub_devices.values())})
        return held


class EnosBrokerPlugin(BaseAuthPlugin, BaseTopicPlugin):
    """Authentication, topic access control and message handling in one plugin: they share the
    connection registry."""

    def __init__(self, context: BaseContext) -> None:
        super().__init__(context)
        self.connections: dict[str, Connection] = {}
        self.by_device: dict[int, Connection] = {}
        self.channel: str | None = None
        self.tasks: list[asyncio.Task] = []
        self.groups_refreshed = 0.0

    # --- lifecycle --------------------------------------------------------------------------------

    async def on_broker_post_start(self) -> None:
        layer = get_channel_layer()
        if layer is not None:
            self.channel = await layer.new_channel("mqtt-broker.")
            self.tasks.append(asyncio.ensure_future(self._listen(layer)))
        self.tasks.append(asyncio.ensure_future(every(broker_sweep_seconds, self._sweep, "broker sweep failed")))
        latest_buffer.ensure_flusher()
        pusher.register_consumer_loop(asyncio.get_running_loop())  # trace pushes from the broker's loop

    async def on_broker_pre_shutdown(self) -> None:
        for task in self.tasks:
            task.cancel()
        for connection in list(self.connections.values()):
            connection.close_reason = "broker stopped"
            await self._closed(connection)
        await latest_buffer.flush()

    # --- CONNECT: the EnOS sign -----------------------------------------------------------------------

    async def authenticate(self, *, session: AmqttSession) -> bool | None:
        try:
            login = p.parse_mqtt_credentials(session.client_id, session.username, session.password)
            client_ip = throttle.ip_key(session.remote_address)
            device = await in_thread(authenticate)(login, client_ip=client_ip)
            device_session = await in_thread(open_session)(
                device, Transport.MQTT, client_id=session.client_id or "", login=login, client_ip=client_ip)
            device_session.client_ip = client_ip
        except p.ProtocolError as error:
            logger.info("CONNECT of %r refused: %s", session.client_id, error.message)
            return False
        except LoginRefused as refusal:
            logger.info("CONNECT of %r refused: %s %s", session.client_id, refusal.code, refusal.message)
            return False
        loop = asyncio.get_running_loop()
        keepalive = float(session.keep_alive or keepalive_seconds())
        connection = Connection(client_id=session.client_id or "", session=device_session, amqtt=session,
                                keepalive=keepalive, last_seen=loop.time())
        previous = self.connections.get(connection.client_id)
        if previous is not None:  # the same client id connects again: amqtt takes the old one over
            previous.close_reason = "replaced by a new login"
            await self._forget(previous)
        self.connections[connection.client_id] = connection
        self.by_device[device_session.device.id] = connection
        heartbeat.hold(device_session.session_id, device_session.device.id)
        connection.worker = asyncio.ensure_future(self._work(connection))
        await self._sync_groups(connection)
        return True

    async def on_broker_client_connected(self, *, client_id: str, client_session: AmqttSession) -> None:
        connection = self.connections.get(client_id)
        if connection is not None and connection.session.issued_secret:
            # dynamic activation: the deviceSecret, once, on /ext/session/{pk}/{dk}/thing/activate/info
            device = connection.session.device
            message = activation_message(connection.session)
            connection.session.issued_secret = None
            await self._publish(connection, p.topic_for(device.product_key, device.device_key, p.ACTIVATE_INFO),
                                message)

    async def on_broker_client_disconnected(self, *, client_id: str, client_session: AmqttSession) -> None:
        connection = self.connections.get(client_id)
        if connection is not None and connection.amqtt is client_session:
            await self._closed(connection)

    async def on_mqtt_packet_received(self, *, packet: Any, session: AmqttSession | None = None) -> None:
        connection = self.connections.get(session.client_id) if session is not None else None
        if connection is not None:
            connection.last_seen = asyncio.get_running_loop().time()

    # --- topic rules ------------------------------------------------------------------------------------

    async def topic_filtering(self, *, session: AmqttSession | None = None, topic: str | None = None,
                              action: Action | None = None) -> bool:
        connection = self.connections.get(session.client_id) if session is not None else None
        if connection is None or not topic:
            return False
        if action == Action.RECEIVE:
            return False  # devices never receive each other's messages
        owners = [connection.session.device, *list(connection.session.sub_devices.values())]
        if action == Action.SUBSCRIBE:
            return any(p.filter_within_device(topic, d.product_key, d.device_key) for d in owners)
        parsed = p.parse_topic(topic)
        allowed = parsed is not None and connection.session.target(parsed.product_key, parsed.device_key) is not None
        if not allowed:
            await in_thread(refuse_publish)(connection.session, topic)
        return allowed

    # --- messages ---------------------------------------------------------------------------------------

    async def on_broker_message_broadcast(self, *, client_id: str, message: Any) -> None:
        connection = self.connections.get(client_id)
        if connection is not None:
            connection.inbox.put_nowait((message.topic, bytes(message.data or b"")))

    async def _work(self, connection: Connection) -> None:
        """One connection's messages in the order they came (events would race each other)."""
        while True:
            topic_name, data = await connection.inbox.get()
            try:
                await self._handle(connection, topic_name, data)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - one bad message must not stop the connection's worker
                logger.exception("message on %s failed", topic_name)

    async def _handle(self, connection: Connection, topic_name: str, data: bytes) -> None:
        topic = p.parse_topic(topic_name)
        if topic is None:
            return
        try:
            content = p.decode_payload(data)
        except p.ProtocolError as refusal:
            answer = p.reply("", refusal.code, None, refusal.message)
        else:
            answer = None
            if not topic.is_reply and isinstance(content, dict) and content.get("method") == topic.method:
                answer = answer_on_loop(connection.session, {**content, "productKey": topic.product_key,
                                                                      "deviceKey": topic.device_key}, latest_buffer)
            if answer is None:
                before = set(connection.session.sub_devices)
                answer = await in_thread(handle_message)(
                    connection.session, content, topic=topic, latest=latest_buffer)
                if set(connection.session.sub_devices) != before:
                    await self._sync_groups(connection)
        if answer is not None and not topic.is_reply:
            await self._publish(connection, f"{topic_name}_reply", answer)

    async def _publish(self, connection: Connection, topic: str, message: dict) -> None:
        handler = self._handler(connection.client_id)
        if handler is not None:
            await handler.mqtt_publish(topic, json.dumps(message, separators=(",", ":")).encode(), 0, False)

    # --- kicks and commands -----------------------------------------------------------------------------

    async def _listen(self, layer: Any) -> None:
        while True:
            try:
                event = await layer.receive(self.channel)
                await self._on_event(event)
            except asyncio.CancelledError:
                raise
            except Exception:  # noqa: BLE001 - keep listening
                logger.exception("channel-layer event failed")
                await asyncio.sleep(1)

    async def _on_event(self, event: dict) -> None:
        device_id = event.get("device_id")
        kind = event.get("type")
        if kind == bus.REPLACED and isinstance(device_id, int):
            # every older connection holding the device lets go (the newest may already be in by_device)
            for older in [c for c in self.connections.values() if device_id in c.held()
                          and c.session.session_id != event.get("session_id")]:
                await self._drop(older, device_id, "replaced by a new login", end_session=False)
            return
        connection = self.by_device.get(device_id) if isinstance(device_id, int) else None
        if connection is None:
            return
        if kind == bus.KICK:
            # ended: the disable ended the sessions set-based; the connection closes, a sub-device just leaves it
            ended, own = bool(event.get("ended")), device_id == connection.session.device.id
            connection.ended = connection.ended or ended and own
            await self._drop(connection, device_id, event.get("reason") or "kicked", end_session=own or not ended)
        elif kind == bus.COMMAND:
            await self._send_command(connection, event["invocation_id"], device_id, event["message"])
        elif kind == bus.NOTICE and device_id == connection.session.device.id:
            await self._send_notice(connection, event["notice_id"], event["message"])

    async def _send_command(self, connection: Connection, invocation_id: int, device_id: int, message: dict) -> None:
        target = connection.session.by_id(device_id)
        if target is None:
            return
        if await in_thread(claim_command)(invocation_id, device_id, connection.session):
            await self._publish(connection, p.topic_for(target.product_key, target.device_key, message["method"]),
                                {k: v for k, v in message.items() if k not in ("productKey", "deviceKey")})

    async def _send_notice(self, connection: Connection, notice_id: int, message: dict) -> None:
        if await in_thread(claim_notice)(notice_id):
            device = connection.session.device
            await self._publish(connection, p.topic_for(device.product_key, device.device_key, message["method"]),
                                message)

    async def _drop(self, connection: Connection, device_id: int, reason: str, *, end_session: bool = True) -> None:
        """End one device's presence on a connection: the connection itself, or one sub-device."""
        if device_id == connection.session.device.id:
            connection.close_reason = reason
            if not end_session:
                await self._forget(connection)
            handler = self._handler(connection.client_id)
            if handler is not None:
                await handler.handle_connection_closed()
            elif end_session:
                await self._closed(connection)
        elif connection.session.by_id(device_id) is not None:
            if end_session:
                await in_thread(end_sub_session)(connection.session, device_id, reason)
            else:
                sub = connection.session.by_id(device_id)
                connection.session.sub_devices.pop(sub.key, None)  # type: ignore[union-attr]
            await self._sync_groups(connection)

    async def _sweep(self) -> None:
        """The database's word over at-most-once pushes: drop devices that must go, send commands
        nobody delivered, close connections silent past their keep-alive."""
        loop = asyncio.get_running_loop()
        if loop.time() - self.groups_refreshed > GROUP_REFRESH_SECONDS:
            await self._refresh_groups()
            self.groups_refreshed = loop.time()
        for connection in list(self.connections.values()):
            if loop.time() - connection.last_seen > connection.keepalive * 1.5:
                await self._drop(connection, connection.session.device.id, "keep-alive timeout")
        held: dict[int, str] = {}
        owner: dict[int, Connection] = {}
        for connection in self.connections.values():
            for device_id, stamp in connection.held().items():
                held[device_id], owner[device_id] = stamp, connection
        if not held:
            return
        to_end = await in_thread(sessions_to_end)(held)
        for device_id, reason in to_end.items():
            await self._drop(owner[device_id], device_id, reason)
        # a newer login elsewhere (another process, a lost push) took a device: let go quietly
        pairs = [(device_id, c.session.session_id) for c in list(self.connections.values()) if c.session.session_id
                 for device_id in c.held() if device_id not in to_end]
        for device_id, session_id in await in_thread(replaced_sessions)(pairs):
            for older in [c for c in list(self.connections.values()) if c.session.session_id == session_id]:
                await self._drop(older, device_id, "replaced by a new login", end_session=False)
        not_before = now() - dt.timedelta(seconds=MAX_COMMAND_TIMEOUT)
        waiting = await in_thread(undelivered_commands)(list(held), not_before)
        for invocation_id, device_id, message in waiting:
            if device_id in owner and device_id not in to_end:
                await self._send_command(owner[device_id], invocation_id, device_id, message)
        gateways = [c.session.device.id for c in self.connections.values() if c.session.device.is_gateway]
        for notice_id, device_id, message in await in_thread(unsent_notices)(gateways, not_before):
            if device_id in owner and owner[device_id].session.device.id == device_id:
                await self._send_notice(owner[device_id], notice_id, message)

    # --- bookkeeping ------------------------------------------------------------------------------------

    async def _closed(self, connection: Connection) -> None:
        if self.connections.get(connection.client_id) is not connection:
            return
        await self._forget(connection)

    async def _forget(self, connection: Connection) -> None:
        """Let go of a connection. Its session ends too: that touches only rows still carrying its
        session id, so a replaced connection takes its sub-devices' sessions with it and leaves the
        device, now held by the newer one, alone."""
        if self.connections.get(connection.client_id) is connection:
            del self.connections[connection.client_id]
            heartbeat.release(connection.session.session_id)
        for device_id in connection.held():
            if self.by_device.get(device_id) is connection:
                del self.by_device[device_id]
        if connection.worker is not None:
            connection.worker.cancel()
        layer = get_channel_layer()
        if layer is not None and self.channel:
            for device_id in connection.joined:
                await layer.group_discard(bus.device_group(device_id), self.channel)
        connection.joined.clear()
        if not connection.ended:
            await in_thread(close_session)(connection.session, connection.close_reason)

    async def _refresh_groups(self) -> None:
        """channels-redis forgets group members after a day; connections live longer."""
        layer = get_channel_layer()
        if layer is not None and self.channel:
            for connection in list(self.connections.values()):
                for device_id in connection.joined:
                    await layer.group_add(bus.device_group(device_id), self.channel)

    async def _sync_groups(self, connection: Connection) -> None:
        wanted = connection.session.device_ids()
        if self.connections.get(connection.client_id) is connection:
            heartbeat.hold(connection.session.session_id, connection.session.device.id, wanted)
        for device_id in wanted:
            self.by_device[device_id] = connection
        for device_id in connection.joined - wanted:
            if self.by_device.get(device_id) is connection:
                del self.by_device[device_id]
        layer = get_channel_layer()
        if layer is None or not self.channel:
            connection.joined = set(wanted)
            return
        for device_id in wanted - connection.joined:
            await layer.group_add(bus.device_group(device_id), self.channel)
        for device_id in connection.joined - wanted:
            await layer.group_discard(bus.device_group(device_id), self.channel)
        connection.joined = set(wanted)

    def _broker(self) -> Any:
        # amqtt gives plugins no public way to reach one client's connection; the broker is on the context
        return getattr(self.context, "_broker_instance", None)

    def _handler(self, client_id: str) -> Any:
        broker = self._broker()
        return broker.sessions.get(client_id, (None, None))[1] if broker is not None else None
