"""The live view of a device's trace: ws/devices/<asset_id>/trace/.

Authorized in connect() (closing before accept rejects the handshake): only users who can see
the device may watch. The socket joins the device's group, so it hears a trace start, its logs,
its extension and its end, whoever started it. It is closed (code 4403) once the user can no
longer see the device: on a migration or deletion at once, on a revoked permission at once for
the user's own grants, and in any case at the next periodic re-check.

What it sends is JSON with the page's HTML in it, rendered by the same templates as the page
(views.render_rows, views.render_status) in the user's language and time zone: a log carries its seq (the page
detects a gap and fills it from the database) and its row; a change of the trace carries the trace
(id, active, lastSeq …) and its status line. Every few seconds a `sync` tells the trace's last seq
(a lost last push leaves no gap to see), and, once, that a trace reached its expiry.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from types import SimpleNamespace
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.utils import timezone, translation
from django.utils.html import escape
from django.utils.translation import gettext

from accounts.models import User
from accounts.permissions import forget_ou_permissions
from accounts.time_zones import zone_for
from assets.models import Device

from .conf import access_recheck_seconds, sync_seconds
from .models import MessageTrace
from .push import device_group, pusher, user_group
from .services import trace_json
from .views import log_from_json, render_rows, render_status

ACCESS_LOST = 4403


def _language(scope: dict[str, Any]) -> str:
    """The language the page was served in: the language cookie, else the browser's Accept-Language."""
    headers = dict(scope.get("headers") or [])
    request = SimpleNamespace(COOKIES=scope.get("cookies") or {},
                              META={"HTTP_ACCEPT_LANGUAGE": headers.get(b"accept-language", b"").decode("latin-1")})
    return translation.get_language_from_request(request)  # type: ignore[arg-type]


def _visible_device(user: Any, asset_id: str) -> Device | None:
    return Device.objects.visible_to(user).filter(asset_id=asset_id).only("pk", "ou_id", "asset_id").first()


def _still_visible(user_id: int, device_id: int) -> bool:
    # a fresh user: the one in the scope caches its grants and may since have been deactivated
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    forget_ou_permissions(user)
    return Device.objects.visible_to(user).filter(pk=device_id).exists()


def _current_trace(device_id: int, followed: int | None = None) -> dict[str, Any] | None:
    """The device's open trace; else, if given, the trace the page follows (closed since)."""
    traces = MessageTrace.objects.filter(device_id=device_id).select_related("device", "started_by")
    trace = traces.open().first()
    if trace is None and followed is not None:
        trace = traces.filter(pk=followed).first()
    return trace_json(trace) if trace is not None else None


class TraceConsumer(AsyncJsonWebsocketConsumer):
    device_id: int | None = None
    told: tuple[int, bool] | None = None  # the trace the page was last told of, and whether it was active

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
        self.language = _language(self.scope)
        self.time_zone = zone_for(user, self.scope.get("cookies") or {}).name  # the page's zone
        self.groups_joined = [device_group(device.pk), user_group(user.pk)]
        for group in self.groups_joined:
            await self.channel_layer.group_add(group, self.channel_name)
        pusher.register_consumer_loop(asyncio.get_running_loop())
        await self.accept()
        self.checked_at = time.monotonic()
        self.recheck_task = asyncio.create_task(self._recheck_periodically())
        self.sync_task = asyncio.create_task(self._sync_periodically())
        # where the trace stands now: the page compares with what it shows and fills any gap
        await self._tell("hello", await database_sync_to_async(_current_trace)(device.pk))

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
            logs = event["logs"]
            with translation.override(self.language), timezone.override(self.time_zone):
                rows = render_rows([log_from_json(log) for log in logs])
            await self.send_json({"type": "logs", "trace": event["trace"],
                                  "logs": [{**log, "html": row} for log, row in zip(logs, rows, strict=True)]})

    async def trace_started(self, event: dict[str, Any]) -> None:
        if await self._allowed(fresh=False):
            await self._tell("started", event["trace"])

    async def trace_extended(self, event: dict[str, Any]) -> None:
        if await self._allowed(fresh=False):
            await self._tell("extended", event["trace"])

    async def trace_ended(self, event: dict[str, Any]) -> None:
        if await self._allowed(fresh=False):
            await self._tell("ended", event["trace"])

    async def access_check(self, event: dict[str, Any]) -> None:
        await self._allowed(fresh=True)

    async def _tell(self, kind: str, trace: dict[str, Any] | None) -> None:
        """A change of the trace, with the status line the page shows for it."""
        with translation.override(self.language), timezone.override(self.time_zone):
            status = render_status(trace)
        self.told = (trace["id"], trace["active"]) if trace is not None else None
        await self.send_json({"type": kind, "trace": trace, "status": status})

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
        with translation.override(self.language):
            status = escape(gettext("You no longer have access to this device."))
        await self.send_json({"type": "access_lost", "status": status})
        await self.close(code=ACCESS_LOST)
        return False

    async def _sync_periodically(self) -> None:
        """Where the trace stands, every few seconds: channels-redis can lose a push (past its
        capacity, or popped by a consumer cancelled as its device disconnects), and a lost last log
        leaves no seq gap behind it; the page compares and fills from the database."""
        while self.device_id is not None:
            await asyncio.sleep(sync_seconds())
            followed = self.told[0] if self.told is not None and self.told[1] else None
            current = (await database_sync_to_async(_current_trace)(self.device_id, followed)
                       if self.device_id else None)
            if current is None:
                continue
            if self.told != (current["id"], current["active"]):
                # a start or an end the page missed (a lost push), or an expiry the sweep has not
                # closed yet: the page learns it with its status line
                await self._tell("started" if current["active"] else "ended", current)
            await self.send_json({"type": "sync", "trace": current})

    async def _recheck_periodically(self) -> None:
        while self.device_id is not None:
            await asyncio.sleep(access_recheck_seconds())
            await self._allowed(fresh=True)
