"""What the portal asks of a device: services (thing.service.<id>, sync or async), measure point
set/get (thing.service.measurepoint.set/get), and the device's replies to them; kicks and the
notices a gateway gets about its sub-devices (combine.disable/enable/delete).

A command is a CommandInvocation row: the connection holding the device claims it (so it goes out
once, and only through the newest connection), the device's reply closes it, or the timeout does.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.db import transaction
from django.utils.timezone import now
from django.utils.translation import gettext as _

from accounts import audit
from accounts.errors import DomainError
from assets import services as asset_services
from assets.datatypes import ValueProblem, check_value
from assets.models import Device

from .. import bus, history
from .. import protocol as p
from ..conf import command_timeout_seconds
from ..models import CommandInvocation, CommandStatus, DeviceSession, GatewayNotice
from ..sessions import DeviceRef, Session
from ..transports import broker_api
from .base import trace
from .session import go_offline

MAX_COMMAND_TIMEOUT = 60.0
MEASUREPOINT_SET = "measurepoint.set"  # CommandInvocation.service of thing.service.measurepoint.set
MEASUREPOINT_GET = "measurepoint.get"
NOTICE_PREFIX = "notice-"
ACTIVATION_PREFIX = "activate-"


def reply_code(raw: Any) -> int:
    """A reply's code: an int, or a numeric string (the SDK answers "1101" when no handler is registered)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().isascii() and raw.strip().isdigit():
        return int(raw.strip())
    return p.BAD_REQUEST


def _check_inputs(features: list[dict], values: Any, what: str, *,
                  from_text: bool) -> tuple[dict, dict[str, list[str]]]:
    if not isinstance(values, dict):
        raise DomainError(_("params must be an object of identifier: value."), field="params")
    by_id = {f["identifier"]: f for f in features if isinstance(f, dict)}
    clean: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, value in values.items():
        feature = by_id.get(name)
        if feature is None:
            problems[name] = [what % {"name": name}]
            continue
        if value is None or value == "":
            continue
        try:
            clean[name] = check_value(feature, value, from_text=from_text)
        except ValueProblem as problem:
            problems[name] = [_("%(name)s: %(problem)s") % {"name": feature.get("name") or name, "problem": problem}]
    return clean, problems


def _raise(problems: dict[str, list[str]]) -> None:
    if problems:
        first = next(iter(problems.values()))[0]
        raise DomainError(first, code="validation_error", details=problems)


def check_service_params(device: Device, identifier: str, params: Any, *, from_text: bool) -> dict:
    service = device.product.model.feature("services", identifier)
    if service is None:
        raise DomainError(_('"%(identifier)s" is not a service of model %(model)s.')
                          % {"identifier": identifier, "model": device.product.model.model_id},
                          code="service_not_found", field="service")
    inputs = service.get("input") or []
    not_an_input = _('"%%(name)s" is not an input of service %(service)s') % {"service": identifier}
    clean, problems = _check_inputs(inputs, params, not_an_input, from_text=from_text)
    for feature in inputs:
        name = feature["identifier"]
        if feature.get("required") and name not in clean and name not in problems:
            problems[name] = [_("%(name)s is required") % {"name": feature.get("name") or name}]
    _raise(problems)
    return clean


def invoke_service(actor: Any, device: Device, identifier: str, params: Any, *, from_text: bool = False,
                   timeout: float | None = None, wait: bool | None = None) -> CommandInvocation:
    """Send `thing.service.<identifier>` to the device; a sync service waits for its reply (or the
    timeout), an async one (`call_type: async` in the model, or wait=False) answers once sent.

    Answers at once with status "offline" when no connection holds the device. Must not run
    inside a transaction when it waits: the reply is written by the connection's process.
    """
    asset_services.require_write(actor, device.ou_id)
    clean = check_service_params(device, identifier, params, from_text=from_text)
    if wait is None:
        service = device.product.model.feature("services", identifier) or {}
        wait = str(service.get("call_type", "sync")).lower() != "async"
    return _command(actor, device, identifier, clean, timeout=timeout, wait=wait)


def set_measurepoints(actor: Any, device: Device, values: Any, *, from_text: bool = False,
                      timeout: float | None = None) -> CommandInvocation:
    """thing.service.measurepoint.set: ask the device to set these measure points; waits for its reply."""
    asset_services.require_write(actor, device.ou_id)
    not_a_point = _('"%%(name)s" is not a measure point of model %(model)s') % {
        "model": device.product.model.model_id}
    clean, problems = _check_inputs(device.product.model.measurepoints, values, not_a_point, from_text=from_text)
    if not clean and not problems:
        problems = {"params": [_("Name at least one measure point to set.")]}
    _raise(problems)
    return _command(actor, device, MEASUREPOINT_SET, clean, timeout=timeout, wait=True)


def get_measurepoints(actor: Any, device: Device, identifiers: list[str], *,
                      timeout: float | None = None) -> CommandInvocation:
    """thing.service.measurepoint.get: ask the device for the current values; its reply's data has them."""
    asset_services.require_write(actor, device.ou_id)
    known = {f.get("identifier") for f in device.product.model.measurepoints if isinstance(f, dict)}
    unknown = [name for name in identifiers if name not in known]
    if unknown:
        raise DomainError(_('"%(name)s" is not a measure point of model %(model)s.')
                          % {"name": unknown[0], "model": device.product.model.model_id},
                          code="validation_error", details={name: [_("not a measure point")] for name in unknown})
    return _command(actor, device, MEASUREPOINT_GET, list(identifiers), timeout=timeout, wait=True)


def _command(actor: Any, device: Device, service: str, params: Any, *, timeout: float | None,
             wait: bool) -> CommandInvocation:
    timeout = min(max(float(timeout or command_timeout_seconds()), 0.1), MAX_COMMAND_TIMEOUT)
    method = f"{p.SERVICE_PREFIX}{service}"
    invocation = CommandInvocation.objects.create(
        device=device, ou_id=device.ou_id, service=service, params=params,
        requested_by=actor if getattr(actor, "is_authenticated", False) else None)
    audit.record(actor, "device.service_invoke", device, after={"service": service, "params": params,
                                                                "invocation": invocation.pk})
    live = DeviceSession.objects.filter(device=device).first()
    if live is None or not Device.objects.filter(pk=device.pk, enabled=True, online=True).exists():
        _finish(invocation, CommandStatus.OFFLINE, p.DEVICE_OFFLINE, "The device is offline: the command was not sent.")
        trace(device.pk, "down", method, "error", code=p.DEVICE_OFFLINE, message="device offline", payload=params)
        return invocation
    message = p.request(invocation.message_id, method, params)
    if live.via_id is not None:
        message.update(productKey=device.product.product_key, deviceKey=device.device_key)
    # recorded (and sequenced) before it is sent: the device's reply can never be logged first
    with transaction.atomic():
        trace(device.pk, "down", method, "ok", message=f"command {invocation.pk} sent", payload=params)
    if live.transport in broker_api.BROKER_TRANSPORTS:
        if claim_command(invocation.pk, device.pk):
            broker_api.publish(live.transport, p.topic_for(device.product.product_key, device.device_key, method),
                               {k: v for k, v in message.items() if k not in ("productKey", "deviceKey")})
    else:
        bus.command(device.pk, invocation.pk, message)
    return wait_for_reply(invocation, timeout) if wait else invocation


def wait_for_reply(invocation: CommandInvocation, timeout: float) -> CommandInvocation:
    deadline = time.monotonic() + timeout
    pause = 0.02
    while time.monotonic() < deadline:
        status = CommandInvocation.objects.filter(pk=invocation.pk).values_list("status", flat=True).first()
        if status != CommandStatus.PENDING:
            invocation.refresh_from_db()
            return invocation
        time.sleep(min(pause, max(deadline - time.monotonic(), 0)))
        pause = min(pause * 1.5, 0.25)
    expire_command(invocation, timeout)
    invocation.refresh_from_db()
    return invocation


def expire_command(invocation: CommandInvocation, timeout: float) -> bool:
    message = f"No reply within {timeout:g} s."
    if _finish(invocation, CommandStatus.TIMEOUT, p.COMMAND_TIMEOUT, message):
        trace(invocation.device_id, "up", f"{p.SERVICE_PREFIX}{invocation.service}", "timeout",
              code=p.COMMAND_TIMEOUT, message=message)
        return True
    return False


def _finish(invocation: CommandInvocation, status: str, code: int, message: str, reply: Any = None) -> bool:
    """Close a pending invocation; False when something else (a reply, a timeout) closed it first."""
    stamp = now()
    done = CommandInvocation.objects.filter(pk=invocation.pk, status=CommandStatus.PENDING).update(
        status=status, code=code, message=message[:500], reply=reply, finished_at=stamp)
    if done:
        invocation.status, invocation.code, invocation.message = status, code, message[:500]
        invocation.reply, invocation.finished_at = reply, stamp
    return bool(done)


def claim_command(invocation_id: int, device_id: int, session: Session | None = None) -> bool:
    """The connection about to send a command claims it, so no command goes out twice, and only the
    newest connection of the device sends it."""
    if session is not None and (session.by_id(device_id) is None or not DeviceSession.objects.filter(
            device_id=device_id, session_id=session.session_id).exists()):
        return False
    return bool(CommandInvocation.objects.filter(
        pk=invocation_id, device_id=device_id, status=CommandStatus.PENDING, dispatched_at__isnull=True,
    ).update(dispatched_at=now()))


def undelivered_commands(device_ids: list[int], not_before: dt.datetime) -> list[tuple[int, int, dict]]:
    """Pending commands nobody sent yet for these devices: (invocation id, device id, message).

    The MQTT broker's timer picks these up when no channel layer links it to the portal.
    """
    rows = (CommandInvocation.objects.filter(device_id__in=device_ids, status=CommandStatus.PENDING,
                                             dispatched_at__isnull=True, created_at__gte=not_before)
            .select_related("device__product"))
    found = []
    for invocation in rows:
        message = p.request(invocation.message_id, f"{p.SERVICE_PREFIX}{invocation.service}", invocation.params)
        if invocation.device.gateway_id is not None:
            message.update(productKey=invocation.device.product.product_key, deviceKey=invocation.device.device_key)
        found.append((invocation.pk, invocation.device_id, message))
    return found


def record_command_reply(session: Session, content: Any, target: DeviceRef, method: str = "reply") -> bool:
    """A device answered a command: keep its outcome (a reply after the timeout is traced, not kept)."""
    raw_id = str(content.get("id", "")) if isinstance(content, dict) else ""
    if raw_id.startswith((NOTICE_PREFIX, ACTIVATION_PREFIX)):
        code = reply_code(content.get("code")) if isinstance(content, dict) else p.BAD_REQUEST
        trace(target.id, "up", method, "ok" if code == p.SUCCESS else "error", code=code, message="acknowledged")
        return True
    pk = raw_id.removeprefix("cmd-")
    invocation = None
    if pk.isascii() and pk.isdigit():
        invocation = CommandInvocation.objects.filter(pk=int(pk), device_id__in=session.device_ids()).first()
    if invocation is None:
        trace(target.id, "up", method, "error", code=p.NOT_FOUND, message=f"reply to unknown command {raw_id!r}",
              payload=content if isinstance(content, dict) else None)
        return False
    code = reply_code(content.get("code"))
    data = content.get("data")
    text = str(content.get("message") or content.get("msg") or "")
    method = f"{p.SERVICE_PREFIX}{invocation.service}"
    status = CommandStatus.OK if code == p.SUCCESS else CommandStatus.ERROR
    if _finish(invocation, status, code, text or ("success" if code == p.SUCCESS else "error"), data):
        trace(invocation.device_id, "up", method, "ok" if status == CommandStatus.OK else "error", code=code,
              message=text, payload=data)
        return True
    trace(invocation.device_id, "up", method, "error", code=code, message="reply arrived after the command ended",
          payload=data)
    return False


# --- what assets tells us ---------------------------------------------------------------------------

def kick_devices(device_ids: list[int], reason: str, code: int) -> None:
    """End the live sessions of these devices at once (the connection traces and marks them offline)."""
    device_ids = list(device_ids)
    # only a device with a session row has a connection to reach: one query finds them, however many were
    # disabled at once (a login commits its row under the device's lock, so none slips between)
    live_sessions = list(DeviceSession.objects.filter(device_id__in=device_ids))
    bus.kick([live.device_id for live in live_sessions if live.transport not in broker_api.BROKER_TRANSPORTS],
             reason, code)
    # devices behind a clustered broker have no portal process holding them: ask the broker, or end a
    # sub-device's row here
    for live in (live for live in live_sessions if live.transport in broker_api.BROKER_TRANSPORTS):
        if live.via_id is None:
            broker_api.kick(live.transport, live.client_id)  # its disconnect report then marks it offline
        else:
            with transaction.atomic():
                if DeviceSession.objects.filter(pk=live.pk, session_id=live.session_id).delete()[0]:
                    stamp = now()
                    go_offline([live.device_id], stamp)
                    history.end_records([live.device_id], history.end_reason(reason), stamp,
                                        session_id=live.session_id)
            trace(live.device_id, "up", p.COMBINE_LOGOUT, "ok", message=reason)


def gateway_notices(device_ids: list[int], method: str) -> list[GatewayNotice]:
    """The notices to send when sub-devices were disabled, enabled or deleted (combine.disable /
    combine.enable / combine.delete on each connected gateway's /ext/session topic), unsaved."""
    subs = (Device.objects.filter(pk__in=device_ids, gateway__isnull=False)
            .values_list("gateway_id", "product__product_key", "device_key"))
    by_gateway: dict[int, list[dict]] = {}
    for gateway_id, product_key, device_key in subs:
        by_gateway.setdefault(gateway_id, []).append({"productKey": product_key, "deviceKey": device_key})
    live = set(DeviceSession.objects.filter(device_id__in=list(by_gateway), via__isnull=True)
               .values_list("device_id", flat=True))
    return [GatewayNotice(gateway_id=gateway_id, method=method, params=params)
            for gateway_id, params in by_gateway.items() if gateway_id in live]


def notice_message(notice: GatewayNotice) -> dict:
    return p.request(notice.message_id, notice.method, notice.params)


def send_notices(notices: list[GatewayNotice]) -> int:
    """Keep the notices and push each to the connection holding its gateway (which claims it)."""
    notices = [n for n in notices if Device.objects.filter(pk=n.gateway_id).exists()]
    for notice in notices:
        notice.save()
        trace(notice.gateway_id, "down", notice.method, "ok",
              message=", ".join(i["deviceKey"] for i in notice.params), payload=notice.params)
        live = DeviceSession.objects.filter(device_id=notice.gateway_id, via__isnull=True).first()
        if live is not None and live.transport in broker_api.BROKER_TRANSPORTS:
            gateway = Device.objects.select_related("product").get(pk=notice.gateway_id)
            if claim_notice(notice.pk):
                topic = p.topic_for(gateway.product.product_key, gateway.device_key, notice.method)
                broker_api.publish(live.transport, topic, notice_message(notice))
        else:
            bus.notice(notice.gateway_id, notice.pk, notice_message(notice))
    return len(notices)


def claim_notice(notice_id: int) -> bool:
    """The connection about to send a notice claims it, so it goes out once."""
    return bool(GatewayNotice.objects.filter(pk=notice_id, sent_at__isnull=True).update(sent_at=now()))


def unsent_notices(device_ids: list[int], not_before: dt.datetime) -> list[tuple[int, int, dict]]:
    """Notices nobody sent yet to these gateways: (notice id, gateway id, message) — the MQTT broker's
    sweep sends them when no channel layer links it to the portal."""
    return [(n.pk, n.gateway_id, notice_message(n)) for n in GatewayNotice.objects.filter(
        gateway_id__in=device_ids, sent_at__isnull=True, created_at__gte=not_before).order_by("pk")]


def forget_old_notices(older_than: dt.timedelta) -> int:
    return GatewayNotice.objects.filter(created_at__lt=now() - older_than).delete()[0]
