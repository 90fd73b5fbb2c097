"""The device-facing domain operations: the one place connectivity writes, and the one place every
device message and refusal passes through (and so is traced).

Transports (the device websocket, the MQTT broker, the EMQX endpoints) only move bytes: they
call these functions — from async code through `connectivity.db.in_thread` — and send back what
they return.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import secrets
import time
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Value
from django.db.models.functions import Coalesce
from django.utils.timezone import now

from accounts import audit
from accounts.errors import DomainError
from assets import services as asset_services
from assets.datatypes import ValueProblem, check_value
from assets.models import Device
from tracing.recorder import TracedMessage, record_message

from . import bus, emqx_api
from . import protocol as p
from .conf import command_timeout_seconds, sign_window_seconds
from .latest import LatestRow, LatestValueBuffer
from .models import CommandInvocation, CommandStatus, DeviceSession, LatestValue, Transport, ValueKind
from .sessions import DeviceRef, ModelFeatures, Session, cached_model_features, model_features, secret_stamp

logger = logging.getLogger(__name__)

MAX_COMMAND_TIMEOUT = 60.0


# --- tracing: every message and refusal of a known device comes through here -----------------------

def trace(device_id: int, direction: str, method: str, outcome: str, *, code: int | None = None,
          message: str = "", payload: Any = None) -> None:
    try:
        record_message(TracedMessage(device_id=device_id, direction=direction,  # type: ignore[arg-type]
                                     method=method, outcome=outcome, code=code,  # type: ignore[arg-type]
                                     message=message, payload=payload))
    except Exception:  # noqa: BLE001 - tracing must never break device traffic
        logger.exception("could not trace a message of device %s", device_id)


def _error(device_id: int | None, request_id: str, method: str, code: int, message: str,
           payload: Any = None, data: Any = None) -> dict:
    if device_id is not None:
        trace(device_id, "up", method, "error", code=code, message=message, payload=payload)
    return p.reply(request_id, code, data, message)


# --- login, activation, sessions --------------------------------------------------------------------

class LoginRefused(Exception):
    def __init__(self, code: int, message: str, device_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.device_id = device_id


def _find_device(product_key: str, device_key: str) -> Device | None:
    return (Device.objects.select_related("product")
            .filter(product__product_key=product_key, device_key=device_key).first())


def authenticate(login: p.LoginRequest, *, gateway: DeviceRef | None = None) -> Device:
    """Check a login (a device's own, or a sub-device's through `gateway`); refusals are traced.

    The sign is checked before anything about the device's state is told, so an unauthenticated
    caller learns nothing but "sign check failed".
    """
    method = p.COMBINE_LOGIN if gateway else p.LOGIN
    device = _find_device(login.product_key, login.device_key)
    if device is None:
        raise LoginRefused(p.NOT_FOUND, f"No device {login.device_key} in product {login.product_key}.")

    def refuse(code: int, message: str) -> LoginRefused:
        trace(device.pk, "up", method, "error", code=code, message=message, payload=login.traced())
        return LoginRefused(code, message, device.pk)

    if login.sign_method.lower() != "sha256":
        raise refuse(p.SIGN_CHECK_FAILED, f"signmethod {login.sign_method!r} is not supported: use sha256.")
    if gateway is None and device.gateway_id is not None:
        raise refuse(p.SUB_DEVICE_DIRECT_LOGIN,
                     "A sub-device cannot log in directly: it logs in through its gateway (combine.login).")
    if gateway is not None and device.gateway_id != gateway.id:
        raise refuse(p.SUB_DEVICE_NOT_OF_GATEWAY, f"{device.device_key} is not a sub-device of this gateway.")
    if login.secure_mode == p.DYNAMIC_ACTIVATION:
        if not device.product.dynamic_activation:
            raise refuse(p.DYNAMIC_ACTIVATION_NOT_ALLOWED,
                         "Dynamic activation is not allowed for this product: sign with the deviceSecret.")
        secret = device.product.product_secret
    elif login.secure_mode == p.STATIC_ACTIVATION:
        secret = device.device_secret
    else:
        raise refuse(p.BAD_REQUEST, f"securemode {login.secure_mode} is not supported: use 2 or 3.")
    stale = p.timestamp_problem(login.timestamp, sign_window_seconds())
    if stale:
        raise refuse(p.SIGN_CHECK_FAILED, f"Sign check failed: {stale}.")
    if not p.sign_matches(login.signed_fields(), secret, login.sign):
        raise refuse(p.SIGN_CHECK_FAILED, "Sign check failed.")
    if login.secure_mode == p.DYNAMIC_ACTIVATION and device.activated_at is not None:
        raise refuse(p.ALREADY_ACTIVATED, "The device is already activated: log in with its deviceSecret.")
    if not device.enabled:
        raise refuse(p.DEVICE_DISABLED, "The device is disabled.")
    return device


def open_session(device: Device, transport: str, *, client_id: str = "", login: p.LoginRequest | None = None,
                 via: Session | None = None) -> Session:
    """Mark the device online (activating it on its first login) and make this connection its holder."""
    stamp = now()
    session_id = via.session_id if via else secrets.token_hex(12)
    with transaction.atomic():
        went_online = Device.objects.filter(pk=device.pk, enabled=True, online=False).update(
            online=True, last_online_at=stamp, activated_at=Coalesce("activated_at", Value(stamp)))
        if not went_online and not Device.objects.filter(pk=device.pk, enabled=True).exists():
            # disabled between the sign check and now: the kick was sent before we could hear it
            method = p.COMBINE_LOGIN if via else p.LOGIN
            trace(device.pk, "up", method, "error", code=p.DEVICE_DISABLED, message="The device is disabled.")
            raise LoginRefused(p.DEVICE_DISABLED, "The device is disabled.", device.pk)
        replaced = DeviceSession.objects.filter(device=device).exclude(session_id=session_id).exists()
        DeviceSession.objects.update_or_create(device=device, defaults={
            "session_id": session_id, "transport": transport, "client_id": client_id,
            "via_id": via.device.id if via else None, "connected_at": stamp})
    if replaced:
        transaction.on_commit(lambda: bus.replaced(device.pk, session_id))
    ref = DeviceRef.of(device)
    dynamic = login is not None and login.secure_mode == p.DYNAMIC_ACTIVATION
    trace(device.pk, "up", p.COMBINE_LOGIN if via else p.LOGIN, "ok",
          message="activated" if dynamic else ("online" if went_online else "online (replaced a session)"),
          payload=login.traced() if login else None)
    if via is not None:
        via.sub_devices[ref.key] = ref
        return via
    session = Session(session_id=session_id, transport=transport, device=ref, client_id=client_id)
    if dynamic:
        session.issued_secret = device.device_secret
    return session


def login_reply(request_id: str, session: Session) -> dict:
    data: dict[str, Any] = {"assetId": session.device.asset_id, "productKey": session.device.product_key,
                            "deviceKey": session.device.device_key}
    if session.issued_secret:
        data["deviceSecret"] = session.issued_secret
    return p.reply(request_id, p.SUCCESS, data)


def _go_offline(device_ids: list[int], stamp: dt.datetime) -> None:
    if device_ids:
        Device.objects.filter(pk__in=device_ids, online=True).update(online=False, last_offline_at=stamp)


def close_session(session: Session, reason: str) -> bool:
    """The connection ended: its device (and sub-devices logged in through it) go offline.

    Only rows still carrying this session's id are touched: a connection replaced by a newer
    login closes without marking the device offline.
    """
    stamp = now()
    with transaction.atomic():
        # sub-devices by the gateway's session id, not by `via`: that link is gone if the gateway was deleted
        subs = list(DeviceSession.objects.filter(session_id=session.session_id).exclude(device_id=session.device.id)
                    .values_list("device_id", flat=True))
        own = DeviceSession.objects.filter(device_id=session.device.id, session_id=session.session_id).delete()[0]
        DeviceSession.objects.filter(device_id__in=subs, session_id=session.session_id).delete()
        _go_offline(([session.device.id] if own else []) + subs, stamp)
    for sub_id in subs:
        trace(sub_id, "up", p.COMBINE_LOGOUT, "ok", message=f"gateway went offline: {reason}")
    if own:
        trace(session.device.id, "up", p.OFFLINE, "ok", message=reason)
    session.sub_devices.clear()
    return bool(own)


def end_sub_session(session: Session, device_id: int, reason: str) -> bool:
    """A sub-device leaves its gateway's connection (combine.logout, disabled, reset)."""
    sub = session.by_id(device_id)
    if sub is None or sub.id == session.device.id:
        return False
    session.sub_devices.pop(sub.key, None)
    with transaction.atomic():
        ended = DeviceSession.objects.filter(device_id=device_id, session_id=session.session_id).delete()[0]
        if ended:
            _go_offline([device_id], now())
    trace(device_id, "up", p.COMBINE_LOGOUT, "ok", message=reason)
    return bool(ended)


def sessions_to_end(held: dict[int, str]) -> dict[int, str]:
    """Which held devices (id → secret stamp) must be dropped — disabled, deleted or secret reset —
    with the reason.

    The MQTT broker asks this on a timer: the safety net under channel-layer kicks, and the only
    path when the portal and the broker share no channel layer.
    """
    rows = {pk: (enabled, secret_stamp(secret)) for pk, enabled, secret in
            Device.objects.filter(pk__in=list(held)).values_list("pk", "enabled", "device_secret")}
    drop: dict[int, str] = {}
    for device_id, stamp in held.items():
        if device_id not in rows:
            drop[device_id] = "device deleted"
        elif not rows[device_id][0]:
            drop[device_id] = "device disabled"
        elif stamp and stamp != rows[device_id][1]:
            drop[device_id] = "device secret reset"
    return drop


def refuse_publish(session: Session, topic: str) -> None:
    """A publish the topic rules refused (it is never processed): traced on the publishing device."""
    trace(session.device.id, "up", topic, "error", code=p.NO_PUBLISH_PERMISSION,
          message=f"No permission to publish to {topic}.")


def forget_sessions(transport: str) -> int:
    """At a broker's start: sessions it held before a crash are gone; their devices are offline."""
    with transaction.atomic():
        ids = list(DeviceSession.objects.filter(transport=transport).values_list("device_id", flat=True))
        DeviceSession.objects.filter(device_id__in=ids).delete()
        _go_offline(ids, now())
    return len(ids)


def touch_sessions(session_ids: list[str]) -> int:
    """The heartbeat of a server process: its live sessions (and their sub-devices' rows) are alive."""
    touched, stamp = 0, now()
    for start in range(0, len(session_ids), 5_000):
        touched += DeviceSession.objects.filter(session_id__in=session_ids[start:start + 5_000]).update(seen_at=stamp)
    return touched


# sessions whose process beats (the portal's websocket workers and MQTT broker); EMQX reports its
# own disconnects through the webhook
HEARTBEAT_TRANSPORTS = (Transport.WEBSOCKET, Transport.MQTT)
STALE_REASON = "the server holding the connection stopped answering"


def end_stale_sessions(silent_for: dt.timedelta) -> int:
    """Sessions whose process stopped beating (it crashed, or was killed) end: devices go offline.

    A process that is alive but could not beat (its database was unreachable) is told to drop the
    devices too, so that what the console shows and what the connection holds agree again.
    """
    stamp = now()
    with transaction.atomic():
        stale = list(DeviceSession.objects.select_for_update(skip_locked=True)
                     .filter(seen_at__lt=stamp - silent_for, transport__in=HEARTBEAT_TRANSPORTS)
                     .values_list("device_id", "via_id"))
        ids = [device_id for device_id, _ in stale]
        DeviceSession.objects.filter(device_id__in=ids).delete()
        _go_offline(ids, stamp)
    for device_id, via_id in stale:
        if via_id is None:
            trace(device_id, "up", p.OFFLINE, "ok", message=STALE_REASON)
        else:
            trace(device_id, "up", p.COMBINE_LOGOUT, "ok", message=f"gateway went offline: {STALE_REASON}")
    if ids:
        transaction.on_commit(lambda: bus.kick(ids, STALE_REASON, p.DEVICE_OFFLINE))
        logger.warning("%s device sessions ended: %s", len(ids), STALE_REASON)
    return len(ids)


# --- messages from a logged-in connection ---------------------------------------------------------

def handle_message(session: Session, content: Any, *, topic: p.Topic | None = None,
                   latest: LatestValueBuffer | None = None) -> dict | None:
    """One message from a logged-in connection; the reply to send back (None for a command reply).

    `topic` is the MQTT topic it came on (it names the device and the method); `latest` is the
    connection process's buffer, or None to write latest values at once.
    """
    if topic is not None and topic.is_reply or topic is None and p.is_reply(content):
        target = session.target(topic.product_key, topic.device_key) if topic else session.device
        record_command_reply(session, content, target or session.device)
        return None
    try:
        request = p.parse_request(content)
    except p.ProtocolError as error:
        raw_id = content.get("id") if isinstance(content, dict) else None
        return _error(session.device.id, "" if raw_id is None else str(raw_id), "?", error.code, error.message,
                      payload=content if isinstance(content, dict | list) else None)
    if topic is not None:
        if request.method != topic.method:
            return _error(session.device.id, request.id, request.method, p.METHOD_TOPIC_MISMATCH,
                          f"The method {request.method} does not belong on this topic ({topic.method}).")
        target = session.target(topic.product_key, topic.device_key)
    else:
        target = session.target(request.product_key, request.device_key)
    if target is None:
        return _error(session.device.id, request.id, request.method, p.NOT_LOGGED_IN,
                      f"{request.device_key} is not logged in through this gateway: combine.login first.")
    return _dispatch(session, target, request, latest)


def answer_on_loop(session: Session, content: Any, latest: LatestValueBuffer) -> dict | None:
    """The reply to a report or ping when it needs no database (its model is cached), else None.

    Data reports are nearly all the traffic: answering them on the event loop spares a thread
    hop per message. Everything else (and a report whose model is not cached) returns None and
    goes through `handle_message` in a thread. Tracing is safe to call on the loop.
    """
    if not isinstance(content, dict) or "method" not in content:
        return None
    method = content["method"]
    if not isinstance(method, str) or method not in (p.MEASUREPOINT_POST, p.PING) and not p.EVENT_RE.match(method):
        return None
    try:
        request = p.parse_request(content)
    except p.ProtocolError:
        return None
    target = session.target(request.product_key, request.device_key)
    features = cached_model_features(target.model_id) if target is not None else None
    if target is None or features is None:
        return None
    return _dispatch(session, target, request, latest, features)


def _dispatch(session: Session, target: DeviceRef, request: p.Request, latest: LatestValueBuffer | None,
              features: ModelFeatures | None = None) -> dict:
    method = request.method
    if method == p.MEASUREPOINT_POST:
        return post_measurepoints(target, request, latest, features)
    if method == p.PING:
        return p.reply(request.id)
    if method == p.ATTRIBUTE_UPDATE:
        return update_attributes(target, request)
    event = p.EVENT_RE.match(method)
    if event:
        return post_event(target, request, event.group(1), latest, features)
    if method in (p.COMBINE_LOGIN, p.COMBINE_LOGOUT):
        if target.id != session.device.id or not session.device.is_gateway:
            return _error(target.id, request.id, method, p.BAD_REQUEST,
                          "Only a gateway's own connection can log sub-devices in or out.")
        return combine_login(session, request) if method == p.COMBINE_LOGIN else combine_logout(session, request)
    if method == p.LOGIN:
        return _error(target.id, request.id, method, p.BAD_REQUEST, "This connection is already logged in.")
    return _error(target.id, request.id, method, p.NOT_FOUND, f"Unknown method {method}.", payload=request.params)


def _report_time(params: dict) -> dt.datetime:
    """The device's own time of a report (ms since the epoch), or now when it gives none."""
    stamp = params.get("time")
    if isinstance(stamp, int | float) and not isinstance(stamp, bool) and 0 <= stamp < 2**53:
        return dt.datetime.fromtimestamp(stamp / 1000, tz=dt.UTC)
    return dt.datetime.now(dt.UTC)  # not django's now(): this runs for every report


def _store(latest: LatestValueBuffer | None, device_id: int, kind: str, values: dict, when: dt.datetime) -> None:
    if latest is not None:
        latest.add(device_id, kind, values, when)
    else:
        store_latest_values([LatestRow(device_id, kind, k, v, when) for k, v in values.items()])


def _unwrap(feature: dict, raw: Any) -> Any:
    """EnOS lets a point carry {"value": v, "quality": q}; a struct is an object by itself."""
    if isinstance(raw, dict) and "value" in raw and set(raw) <= {"value", "quality"} \
            and not (feature.get("data_type") == "struct" and "value" not in _struct_fields(feature)):
        return raw["value"]
    return raw


def _struct_fields(feature: dict) -> set[str]:
    return {f.get("identifier") for f in (feature.get("spec") or {}).get("fields") or []}


def post_measurepoints(target: DeviceRef, request: p.Request, latest: LatestValueBuffer | None = None,
                       features: ModelFeatures | None = None) -> dict:
    params = request.params
    points = params.get("measurepoints") if isinstance(params, dict) else None
    if not isinstance(points, dict) or not points:
        return _error(target.id, request.id, request.method, p.BAD_REQUEST,
                      "params.measurepoints must be an object of identifier: value.", payload=params)
    features = features or model_features(target.model_id)
    clean: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for identifier, raw in points.items():
        feature = features.measurepoints.get(identifier)
        if feature is None:
            problems[identifier] = f'"{identifier}" is not a measure point of model {features.model_id}'
            continue
        try:
            clean[identifier] = check_value(feature, _unwrap(feature, raw))
        except ValueProblem as problem:
            problems[identifier] = f'measure point "{identifier}": {problem}'
    if problems:
        return _error(target.id, request.id, request.method, p.INVALID_VALUE, "; ".join(problems.values()),
                      payload=params, data={"errors": problems})
    _store(latest, target.id, ValueKind.MEASUREPOINT, clean, _report_time(params))
    trace(target.id, "up", request.method, "ok", payload=params)
    return p.reply(request.id)


def post_event(target: DeviceRef, request: p.Request, event_id: str, latest: LatestValueBuffer | None = None,
               features: ModelFeatures | None = None) -> dict:
    params = request.params if isinstance(request.params, dict) else {}
    features = features or model_features(target.model_id)
    feature = features.events.get(event_id)
    if feature is None:
        return _error(target.id, request.id, request.method, p.NOT_FOUND,
                      f'"{event_id}" is not an event of model {features.model_id}.', payload=params)
    raw = params["value"] if "value" in params else params.get("events")
    if isinstance(raw, dict) and event_id in raw and feature.get("data_type") != "struct":
        raw = raw[event_id]
    try:
        value = check_value(feature, raw)
    except ValueProblem as problem:
        return _error(target.id, request.id, request.method, p.INVALID_VALUE, f'event "{event_id}": {problem}',
                      payload=params)
    _store(latest, target.id, ValueKind.EVENT, {event_id: value}, _report_time(params))
    trace(target.id, "up", request.method, "ok", payload=params)
    return p.reply(request.id)


def update_attributes(target: DeviceRef, request: p.Request) -> dict:
    params = request.params if isinstance(request.params, dict) else {}
    attributes = params.get("attributes", params)
    device = Device.objects.select_related("product__model", "gateway").get(pk=target.id)
    clean, problems = asset_services.attribute_problems(device.product.model, attributes, require_all=False)
    if problems:
        return _error(target.id, request.id, request.method, p.INVALID_VALUE, "; ".join(problems.values()),
                      payload=params, data={"errors": problems})
    try:
        # the device is the actor: assets' one writer validates and audits it like any other edit
        asset_services.update_device(None, device, attributes={**device.attributes, **clean})
    except DomainError as error:
        return _error(target.id, request.id, request.method, p.INVALID_VALUE, error.message, payload=params)
    trace(target.id, "up", request.method, "ok", payload=params)
    return p.reply(request.id)


def combine_login(session: Session, request: p.Request) -> dict:
    try:
        sub_login = p.LoginRequest.from_params(request.params)
    except p.ProtocolError as error:
        return _error(session.device.id, request.id, request.method, error.code, error.message)
    try:
        device = authenticate(sub_login, gateway=session.device)
        open_session(device, session.transport, client_id=sub_login.client_id, login=sub_login, via=session)
    except LoginRefused as refusal:
        # traced on the sub-device by authenticate; the gateway's own trace says it was refused too
        trace(session.device.id, "up", request.method, "error", code=refusal.code,
              message=f"{sub_login.device_key}: {refusal.message}", payload=sub_login.traced())
        return p.reply(request.id, refusal.code, None, refusal.message)
    trace(session.device.id, "up", request.method, "ok", message=f"{sub_login.device_key} logged in",
          payload=sub_login.traced())
    return p.reply(request.id, p.SUCCESS, {"assetId": device.asset_id, "productKey": sub_login.product_key,
                                           "deviceKey": sub_login.device_key})


def combine_logout(session: Session, request: p.Request) -> dict:
    params = request.params if isinstance(request.params, dict) else {}
    sub = session.target(params.get("productKey"), params.get("deviceKey"))
    if sub is None or sub.id == session.device.id:
        return _error(session.device.id, request.id, request.method, p.NOT_LOGGED_IN,
                      f"{params.get('deviceKey')} is not logged in through this gateway.")
    end_sub_session(session, sub.id, "combine.logout")
    return p.reply(request.id, p.SUCCESS, {"assetId": sub.asset_id, "productKey": sub.product_key,
                                           "deviceKey": sub.device_key})


def store_latest_values(rows: list[LatestRow]) -> None:
    """One upsert for a batch of latest values; rows of devices deleted meanwhile are dropped.

    Written in SQL rather than through bulk_create: at thousands of rows a second the ORM's
    per-object cost would take a third of the connection process's CPU.
    """
    if not rows:
        return
    stamp = now()
    table = connection.ops.quote_name(LatestValue._meta.db_table)
    device_table = connection.ops.quote_name(Device._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in
                        ("device_id", "kind", "identifier", "value", "time", "received_at"))
    updates = ", ".join(f"{c} = excluded.{c}" for c in
                        (connection.ops.quote_name(n) for n in ("value", "time", "received_at")))
    conflict = f"ON CONFLICT (device_id, kind, identifier) DO UPDATE SET {updates}"
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # the whole batch as one JSON parameter: cheaper to build than arrays or many rows
                batch = json.dumps([{"d": r.device_id, "k": r.kind, "i": r.identifier, "v": r.value,
                                     "t": r.time.isoformat()} for r in rows])
                cursor.execute(
                    f"INSERT INTO {table} ({columns}) SELECT u.d, u.k, u.i, u.v, u.t, %s "
                    "FROM jsonb_to_recordset(%s::jsonb) AS u(d bigint, k text, i text, v jsonb, t timestamptz) "
                    f"WHERE EXISTS (SELECT 1 FROM {device_table} WHERE id = u.d) {conflict}", [stamp, batch])
            else:
                adapt = connection.ops.adapt_datetimefield_value
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) SELECT %s, %s, %s, %s, %s, %s "
                    f"WHERE EXISTS (SELECT 1 FROM {device_table} WHERE id = %s) {conflict}",
                    [(r.device_id, r.kind, r.identifier, json.dumps(r.value), adapt(r.time), adapt(stamp),
                      r.device_id) for r in rows])
    except IntegrityError:
        # a device deleted between the check and the insert: keep the others' values
        ids = {r.device_id for r in rows}
        existing = set(Device.objects.filter(pk__in=ids).values_list("pk", flat=True))
        if existing == ids:
            raise
        store_latest_values([r for r in rows if r.device_id in existing])


# --- commands (thing.service.<identifier>) ---------------------------------------------------------

def _check_service_params(device: Device, identifier: str, params: Any, *, from_text: bool) -> dict:
    service = device.product.model.feature("services", identifier)
    if service is None:
        raise DomainError(f'"{identifier}" is not a service of model {device.product.model.model_id}.',
                          code="service_not_found", field="service")
    if not isinstance(params, dict):
        raise DomainError("params must be an object of identifier: value.", field="params")
    inputs = {f["identifier"]: f for f in service.get("input") or []}
    clean: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}
    for name, value in params.items():
        feature = inputs.get(name)
        if feature is None:
            problems[name] = [f'"{name}" is not an input of service {identifier}']
            continue
        if value is None or value == "":
            continue
        try:
            clean[name] = check_value(feature, value, from_text=from_text)
        except ValueProblem as problem:
            problems[name] = [f'{feature.get("name") or name}: {problem}']
    for name, feature in inputs.items():
        if feature.get("required") and name not in clean and name not in problems:
            problems[name] = [f'{feature.get("name") or name} is required']
    if problems:
        first = next(iter(problems.values()))[0]
        raise DomainError(first, code="validation_error", details=problems)
    return clean


def invoke_service(actor: Any, device: Device, identifier: str, params: Any, *, from_text: bool = False,
                   timeout: float | None = None) -> CommandInvocation:
    """Send `thing.service.<identifier>` to the device and wait for its reply (or the timeout).

    Answers at once with status "offline" when no connection holds the device. Must not run
    inside a transaction: it waits for the reply written by the connection's process.
    """
    asset_services.require_write(actor, device.ou_id)
    clean = _check_service_params(device, identifier, params, from_text=from_text)
    timeout = min(max(float(timeout or command_timeout_seconds()), 0.1), MAX_COMMAND_TIMEOUT)
    method = f"{p.SERVICE_PREFIX}{identifier}"
    invocation = CommandInvocation.objects.create(
        device=device, service=identifier, params=clean,
        requested_by=actor if getattr(actor, "is_authenticated", False) else None)
    audit.record(actor, "device.service_invoke", device, after={"service": identifier, "params": clean,
                                                                "invocation": invocation.pk})
    live = DeviceSession.objects.filter(device=device).select_related("via__product").first()
    if live is None or not Device.objects.filter(pk=device.pk, enabled=True, online=True).exists():
        _finish(invocation, CommandStatus.OFFLINE, p.DEVICE_OFFLINE, "The device is offline: the command was not sent.")
        trace(device.pk, "down", method, "error", code=p.DEVICE_OFFLINE, message="device offline", payload=clean)
        return invocation
    message = p.request(invocation.message_id, method, clean)
    if live.via_id is not None:
        message.update(productKey=device.product.product_key, deviceKey=device.device_key)
    trace(device.pk, "down", method, "ok", message=f"command {invocation.pk} sent", payload=clean)
    if live.transport == Transport.EMQX:
        if claim_command(invocation.pk, device.pk):
            topic = p.topic_for(device.product.product_key, device.device_key, method)
            emqx_api.publish(topic, message)
    else:
        bus.command(device.pk, invocation.pk, message)
    return wait_for_reply(invocation, timeout)


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
    message = f"No reply within {timeout:g} s."
    if _finish(invocation, CommandStatus.TIMEOUT, p.COMMAND_TIMEOUT, message):
        trace(invocation.device_id, "up", f"{p.SERVICE_PREFIX}{invocation.service}", "timeout",
              code=p.COMMAND_TIMEOUT, message=message)
    invocation.refresh_from_db()
    return invocation


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
    """The connection about to send a command claims it, so no command goes out twice."""
    if session is not None and session.by_id(device_id) is None:
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


def record_command_reply(session: Session, content: Any, target: DeviceRef) -> bool:
    """A device answered a command: keep its outcome (a reply after the timeout is traced, not kept)."""
    raw_id = str(content.get("id", "")) if isinstance(content, dict) else ""
    pk = raw_id.removeprefix("cmd-")
    invocation = None
    if pk.isdigit():
        invocation = CommandInvocation.objects.filter(pk=int(pk), device_id__in=session.device_ids()).first()
    if invocation is None:
        trace(target.id, "up", "reply", "error", code=p.NOT_FOUND, message=f"reply to unknown command {raw_id!r}",
              payload=content if isinstance(content, dict) else None)
        return False
    code = content.get("code")
    code = code if isinstance(code, int) and not isinstance(code, bool) else p.BAD_REQUEST
    data = content.get("data")
    text = str(content.get("message") or "")
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
    bus.kick(device_ids, reason, code)
    # devices behind EMQX have no portal process holding them: ask EMQX, or end a sub-device's row here
    for live in DeviceSession.objects.filter(device_id__in=device_ids, transport=Transport.EMQX):
        if live.via_id is None:
            emqx_api.kick(live.client_id)  # EMQX's client.disconnected webhook then marks it offline
        elif DeviceSession.objects.filter(pk=live.pk, session_id=live.session_id).delete()[0]:
            _go_offline([live.device_id], now())
            trace(live.device_id, "up", p.COMBINE_LOGOUT, "ok", message=reason)


# --- sessions held by an EMQX cluster (no portal process holds them: rebuilt from the database) -----

def emqx_session(client_id: str) -> Session | None:
    """The session of an EMQX client, rebuilt from its rows (its own and its sub-devices')."""
    live = (DeviceSession.objects.filter(transport=Transport.EMQX, client_id=client_id, via__isnull=True)
            .select_related("device__product").first())
    if live is None:
        return None
    session = Session(session_id=live.session_id, transport=Transport.EMQX, device=DeviceRef.of(live.device),
                      client_id=client_id)
    for sub in (DeviceSession.objects.filter(session_id=live.session_id).exclude(device_id=live.device_id)
                .select_related("device__product")):
        ref = DeviceRef.of(sub.device)
        session.sub_devices[ref.key] = ref
    return session


def emqx_connected(client_id: str, username: str) -> Session | None:
    """EMQX accepted a CONNECT (after asking `authenticate` through its HTTP authentication)."""
    try:
        login = p.parse_mqtt_credentials(client_id, username, "")
    except p.ProtocolError:
        return None
    device = _find_device(login.product_key, login.device_key)
    if device is None:
        return None
    try:
        session = open_session(device, Transport.EMQX, client_id=client_id, login=login)
    except LoginRefused:
        emqx_api.kick(client_id)
        return None
    if session.issued_secret:
        info = p.request(f"activate-{device.pk}", p.ACTIVATE_INFO, {
            "assetId": device.asset_id, "productKey": login.product_key, "deviceKey": login.device_key,
            "deviceSecret": session.issued_secret})
        emqx_api.publish(p.topic_for(login.product_key, login.device_key, p.ACTIVATE_INFO), info)
    return session


def emqx_disconnected(client_id: str, reason: str, disconnected_at: dt.datetime | None) -> bool:
    session = emqx_session(client_id)
    if session is None:
        return False
    if disconnected_at is not None and DeviceSession.objects.filter(
            device_id=session.device.id, connected_at__gt=disconnected_at).exists():
        return False  # a newer connection of the same client already took over
    return close_session(session, reason)


def emqx_may(client_id: str, topic: str, action: str) -> bool:
    """EMQX's authorization question: may this client publish to / subscribe to this topic?"""
    session = emqx_session(client_id)
    if session is None:
        return False
    owners = [session.device, *session.sub_devices.values()]
    if action == "subscribe":
        return any(p.filter_within_device(topic, d.product_key, d.device_key) for d in owners)
    parsed = p.parse_topic(topic)
    allowed = parsed is not None and session.target(parsed.product_key, parsed.device_key) is not None
    if not allowed and action == "publish":
        refuse_publish(session, topic)
    return allowed


def emqx_message(client_id: str, topic_name: str, payload: str) -> dict | None:
    """A message EMQX accepted: handled like any other; the reply goes back through EMQX's API."""
    session = emqx_session(client_id)
    topic = p.parse_topic(topic_name)
    if session is None or topic is None:
        return None
    try:
        content = p.decode_payload(payload)
    except p.ProtocolError as refusal:
        answer: dict | None = _error(session.device.id, "", topic.method, refusal.code, refusal.message)
    else:
        answer = handle_message(session, content, topic=topic)
    if answer is not None and not topic.is_reply:
        emqx_api.publish(f"{topic_name}_reply", answer)
    return answer
