"""The live view of a device's trace: ws/devices/<asset_id>/trace/.

Authorized in connect() (closing before accept rejects the handshake): only users who can see
the device may watch. The socket joins the device's group, so it hears a trace start, its logs,
its extension and its end, whoever started it. It is closed (code 4403) once the user can no
longer see the device: on a migration or deletion at once, on a revoked permission at once for
the user's own grants, and in any case at the next periodic re-check.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from accounts.models import User
from accounts.permissions import forget_ou_permissions
from assets.models import Device

from .conf import access_recheck_seconds, sync_seconds
from .models import MessageTrace
from .push import device_group, pusher, user_group
from .services import trace_json

ACCESS_LOST = 4403


def _visible_device(user: Any, asset_id: str) -> Device | None:
    return Device.objects.visible_to(user).filter(asset_id=asset_id).only("pk", "ou_id", "asset_id").first()


def _still_visible(user_id: int, device_id: int) -> bool:
    # a fresh user: the one in the scope caches its grants and may since have been deactivated
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    forget_ou_permissions(user)
    return Device.objects.visible_to(user).filter(pk=device_id).exists()


def _current_trace(device_id: int) -> dict[str, Any] | None:
    trace = (MessageTrace.objects.open().filter(device_id=device_id).select_related("device", "started_by")
             .first())
    return trace_json(trace) if trace is not None else None


class TraceConsumer(AsyncJsonWebsocketConsumer):
    device_id: int | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        asset_id = self.scope["url_route"]["kwargs"]["asset_id"]
        device = None
        if user is not None and user.is_authenticated:
            device = await database_sync_to_async(_visible_device)(user, asset_id)
        if device is None:
            await self.close()  # before accept: the handshake is refused, and says nothing of the device
            return
        self.device_id, self.user_id = device.pk, user.pk
        self.groups_joined = [device_group(device.pk), user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        pusher.register_consumer_loop(asyncio.get_running_loop())
        await self.accept()
        self.checked_at = time.monotonic()
        self.recheck_task = asyncio.create_task(self._recheck_periodically())
        self.sync_task = asyncio.create_task(self._sync_periodically())
        # where the trace stands now: the page compares with what it shows and fills any gap
        await self.send_json({"type": "hello", "trace": await database_sync_to_async(_current_trace)(device.pk)})

    async def disconnect(self, code: int) -> None:
        for task in (getattr(self, "recheck_task", None), getattr(self, "sync_task", None)):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        for group in getattr(self, "groups_joined", []):
            await self.channel_layer.group_discard(group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        pass  # the page only listens; history comes over HTTP

    # --- group events -----------------------------------------------------------------------------
    async def trace_logs(self, event: dict[str, Any]) -> None:
        if await self._allowed(fresh=False):
            await self.send_json({"type": "logs", "trace": event["trace"], "logs": event["logs"]})

    async def trace_started(self, event: dict[str, Any]) -> None:
        if await self._allowed(fresh=False):
            await self.send_json({"type": "started", "trace": event["trace"]})

    async def trace_extended(self, event: dict[str, Any]) -> None:
        if await self._allowed(fresh=False):
            await self.send_json({"type": "extended", "trace": event["trace"]})

    async def trace_ended(self, event: dict[str, Any]) -> None:
        if await self._allowed(fresh=False):
            await self.send_json({"type": "ended", "trace": event["trace"]})

    async def access_check(self, event: dict[str, Any]) -> None:
        await self._allowed(fresh=True)

    # --- access -----------------------------------------------------------------------------------
    async def _allowed(self, *, fresh: bool) -> bool:
        """Whether the user may still see the device; closes the socket when not."""
        if self.device_id is None:
            return False
        if not fresh and time.monotonic() - self.checked_at < access_recheck_seconds():
            return True
        self.checked_at = time.monotonic()
        if await database_sync_to_async(_still_visible)(self.user_id, self.device_id):
            return True
        self.device_id = None
        await self.send_json({"type": "access_lost"})
        await self.close(code=ACCESS_LOST)
        return False

    async def _sync_periodically(self) -> None:
        """Where the trace stands, every few seconds: channels-redis can lose a push (past its
        capacity, or popped by a consumer cancelled as its device disconnects), and a lost last log
        leaves no seq gap behind it; the page compares and fills from the database."""
        while self.device_id is not None:
            await asyncio.sleep(sync_seconds())
            current = await database_sync_to_async(_current_trace)(self.device_id) if self.device_id else None
            if current is not None:
                await self.send_json({"type": "sync", "trace": current})

    async def _recheck_periodically(self) -> None:
        while self.device_id is not None:
            await asyncio.sleep(access_recheck_seconds())
            await self._allowed(fresh=True)
