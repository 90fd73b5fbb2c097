"""The built-in device transport: one websocket per device (or gateway), EnOS JSON messages.

The first message must be a `login` (the triple's sign); after it, requests get replies, the
portal's commands arrive as `thing.service.<id>` requests and the device answers them. Silence
longer than the keep-alive (×1.5) closes the connection and the device goes offline.
Devices authenticate by sign, not by cookie, so this socket needs no origin check.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.layers import get_channel_layer

from accounts import throttle
from tracing.push import pusher

from .. import bus
from .. import protocol as p
from ..conf import keepalive_seconds, login_timeout_seconds
from ..db import in_thread
from ..handlers import answer_on_loop, handle_message
from ..handlers.commands import claim_command, claim_notice
from ..handlers.session import LoginRefused, authenticate, close_session, end_sub_session, login_reply, open_session
from ..heartbeat import heartbeat
from ..latest import buffer as latest_buffer
from ..models import Transport
from ..sessions import Session

logger = logging.getLogger(__name__)

CLOSE_LOGIN_REFUSED = 4001
CLOSE_LOGIN_TIMEOUT = 4002
CLOSE_KICKED = 4003
CLOSE_REPLACED = 4004
CLOSE_ACTIVATED = 4005  # dynamic activation done: log in again with the deviceSecret
CLOSE_KEEPALIVE = 4008
GROUP_REFRESH_SECONDS = 3600  # channels-redis forgets group members after a day


class DeviceConsumer(AsyncWebsocketConsumer):
    session: Session | None = None
    kicked = False

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        """channels' loop, leaner: the device's messages and channel-layer events each wait in
        their own loop instead of a fresh task and an asyncio.wait per message (a fifth of the
        per-message cost at thousands of messages a second). A lock keeps channels' promise that
        handlers never run at the same time."""
        self.scope = scope
        self.base_send = send
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        lock = asyncio.Lock()
        listener: asyncio.Task | None = None
        if self.channel_layer is not None:
            self.channel_name = await self.channel_layer.new_channel()
            self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
            listener = asyncio.ensure_future(self._listen(lock))
        try:
            while True:
                message = await receive()
                async with lock:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            if listener is not None:
                listener.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await listener

    async def _listen(self, lock: asyncio.Lock) -> None:
        while True:
            event = await self.channel_receive()
            try:
                async with lock:
                    await self.dispatch(event)
            except StopConsumer:
                return
            except Exception:  # noqa: BLE001 - a failed event must not silence the connection's kicks
                logger.exception("channel-layer event %s failed", event.get("type"))

    async def dispatch(self, message: dict) -> None:
        # channels closes stale database connections before every handler, a thread hop per
        # message; here the ORM runs only through in_thread (database_sync_to_async), which does that itself
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        self.session = None
        self.login_received = False
        self.kicked = False
        self.close_reason = "connection closed"
        self.joined: set[int] = set()
        self.keepalive = float(keepalive_seconds())
        loop = asyncio.get_running_loop()
        self.last_seen = loop.time()
        await self.accept()
        self.watchdog = loop.create_task(self._watch())
        latest_buffer.ensure_flusher()
        pusher.register_consumer_loop(loop)  # trace logs of this process's devices are pushed from here

    async def disconnect(self, code: int) -> None:
        watchdog = getattr(self, "watchdog", None)
        if watchdog is not None:
            watchdog.cancel()
        for device_id in list(self.joined):
            await self.channel_layer.group_discard(bus.device_group(device_id), self.channel_name)
        self.joined.clear()
        if self.session is not None:
            session, self.session = self.session, None
            heartbeat.release(session.session_id)
            await in_thread(close_session)(session, self.close_reason)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.kicked:
            return  # closing: its session is over
        self.last_seen = asyncio.get_running_loop().time()
        raw = text_data if text_data is not None else (bytes_data or b"").decode("utf-8", "replace")
        if len(raw) > p.MAX_MESSAGE_BYTES:
            await self._send(p.reply("", p.MESSAGE_TOO_LARGE, None, "The message is too large."))
            return
        try:
            content = json.loads(raw) if raw else None
        except ValueError:
            content = None
        if content is None:
            await self._send(p.reply("", p.PAYLOAD_FORMAT_ERROR, None, "The payload is not JSON."))
            return
        if self.session is None:
            self.login_received = True
            await self._login(content)
            return
        answer = answer_on_loop(self.session, content, latest_buffer)
        if answer is None:
            before = set(self.session.sub_devices)
            answer = await in_thread(handle_message)(self.session, content, latest=latest_buffer)
            if self.session is not None and set(self.session.sub_devices) != before:
                await self._sync_groups()
        if answer is not None:
            await self._send(answer)

    async def _send(self, message: dict) -> None:
        await self.send(text_data=json.dumps(message, separators=(",", ":")))

    async def _login(self, content: Any) -> None:
        request_id = str(content.get("id", "")) if isinstance(content, dict) else ""
        try:
            request = p.parse_request(content)
            if request.method != p.LOGIN:
                raise p.ProtocolError(p.NOT_LOGGED_IN, "Log in first: the first message must be a login.")
            login = p.LoginRequest.from_params(request.params)
            client_ip = throttle.client_ip_from_scope(self.scope)
            device = await in_thread(authenticate)(login, client_ip=client_ip)
            # listen before going online: a disable committed from now on reaches this connection
            await self._join(device.pk)
            session = await in_thread(open_session)(
                device, Transport.WEBSOCKET, client_id=login.client_id, login=login, client_ip=client_ip)
        except p.ProtocolError as error:
            await self._refuse(request_id, error.code, error.message)
            return
        except LoginRefused as refusal:
            await self._refuse(request_id, refusal.code, refusal.message)
            return
        if not session.session_id:
            # dynamic activation: the deviceSecret in the reply; the device logs in again with it
            await self._send(login_reply(request.id, session))
            await self._refuse_quietly()
            await self.close(code=CLOSE_ACTIVATED)
            return
        session.client_ip = client_ip
        self.session = session
        heartbeat.hold(session.session_id, session.device.id)
        keepalive = request.params.get("keepAlive") if isinstance(request.params, dict) else None
        if isinstance(keepalive, int | float) and not isinstance(keepalive, bool):
            self.keepalive = float(min(max(keepalive, 1), 3600))
        await self._send(login_reply(request.id, session))

    async def _refuse(self, request_id: str, code: int, message: str) -> None:
        await self._refuse_quietly()
        await self._send(p.reply(request_id, code, None, message))
        await self.close(code=CLOSE_LOGIN_REFUSED)

    async def _refuse_quietly(self) -> None:
        for device_id in list(self.joined):
            await self.channel_layer.group_discard(bus.device_group(device_id), self.channel_name)
        self.joined.clear()

    async def _join(self, device_id: int) -> None:
        await self.channel_layer.group_add(bus.device_group(device_id), self.channel_name)
        self.joined.add(device_id)

    async def _sync_groups(self) -> None:
        """Hear kicks and commands for exactly the devices this connection holds."""
        wanted = self.session.device_ids() if self.session else set()
        if self.session is not None:
            heartbeat.hold(self.session.session_id, self.session.device.id, wanted)
        for device_id in wanted - self.joined:
            await self._join(device_id)
        for device_id in self.joined - wanted:
            await self.channel_layer.group_discard(bus.device_group(device_id), self.channel_name)
            self.joined.discard(device_id)

    async def _watch(self) -> None:
        """Close a connection that never logs in, or goes silent past its keep-alive."""
        loop = asyncio.get_running_loop()
        started = refreshed = loop.time()
        try:
            while True:
                now = loop.time()
                if self.session is None:
                    # the login message must arrive in time; checking it may take longer in a storm
                    remaining = login_timeout_seconds() - (now - started) if not self.login_received else 0.5
                    if remaining <= 0 and not self.login_received:
                        self.close_reason = "no login in time"
                        await self.close(code=CLOSE_LOGIN_TIMEOUT)
                        return
                    await asyncio.sleep(min(remaining, 0.5))
                    continue
                silent_for, limit = now - self.last_seen, self.keepalive * 1.5
                if silent_for > limit:
                    self.close_reason = "keep-alive timeout"
                    await self.close(code=CLOSE_KEEPALIVE)
                    return
                if now - refreshed > GROUP_REFRESH_SECONDS:
                    for device_id in list(self.joined):
                        await self.channel_layer.group_add(bus.device_group(device_id), self.channel_name)
                    refreshed = now
                await asyncio.sleep(max(limit - silent_for, 0.05))
        except asyncio.CancelledError:
            pass

    # --- channel-layer events (see connectivity/bus.py) ------------------------------------------

    async def device_kick(self, event: dict) -> None:
        session = self.session
        if session is None:
            return
        device_id = event["device_id"]
        ended = bool(event.get("ended"))  # the sessions were ended set-based before the kick: no database work
        if device_id == session.device.id:
            self.close_reason = event.get("reason") or "kicked"
            if ended:
                self.session = None  # disconnect() then has no session to close
                self.kicked = True  # and what the device still sends meanwhile is not taken for a login
                heartbeat.release(session.session_id)
            await self.close(code=CLOSE_KICKED)
        elif (sub := session.by_id(device_id)) is not None:
            if ended:
                session.sub_devices.pop(sub.key, None)
            else:
                await in_thread(end_sub_session)(session, device_id, event.get("reason") or "kicked")
            await self._sync_groups()

    async def device_replaced(self, event: dict) -> None:
        session = self.session
        if session is None or event["session_id"] == session.session_id:
            return
        device_id = event["device_id"]
        if device_id == session.device.id:
            self.close_reason = "replaced by a new login"
            await self.close(code=CLOSE_REPLACED)
        elif (sub := session.by_id(device_id)) is not None:
            session.sub_devices.pop(sub.key, None)  # its row already belongs to the newer session
            await self._sync_groups()

    async def device_command(self, event: dict) -> None:
        session = self.session
        if session is None:
            return
        claimed = await in_thread(claim_command)(event["invocation_id"], event["device_id"], session)
        if claimed:
            await self._send(event["message"])

    async def device_notice(self, event: dict) -> None:
        if self.session is not None and event["device_id"] == self.session.device.id \
                and await in_thread(claim_notice)(event["notice_id"]):
            await self._send(event["message"])
