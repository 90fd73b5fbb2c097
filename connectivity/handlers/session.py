"""Logins and sessions: the sign check, activation, and which connection holds a device.

The newest connection of a device owns its status. Every change of a device's session row and
its `online` flag happens with the device row locked, so a late close of an older connection and
a new login are serialized: the close only marks the device offline when no session row is left.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections.abc import Callable
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils.timezone import now

from accounts import throttle
from assets.models import Device, disabled_q

from .. import bus, history, signals
from .. import protocol as p
from ..conf import sign_window_seconds
from ..models import DeviceSession, EndReason, Transport
from ..sessions import DeviceRef, Session, secret_stamp
from .base import logger, trace


class LoginRefused(Exception):
    def __init__(self, code: int, message: str, device_id: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.device_id = device_id


# one answer for an unknown device and a wrong sign: an unauthenticated caller learns nothing
SIGN_FAILED_MESSAGE = "Sign check failed."  # EnOS's own wording for 742, as the others below

DISABLED_MESSAGE = "Device is disable: it is disabled in the portal."
GATEWAY_ENDED_MESSAGE = "No sub-device permission: the gateway's session has ended."


def find_device(product_key: str, device_key: str) -> Device | None:
    return (Device.objects.select_related("product")
            .filter(product__product_key=product_key, device_key=device_key).first())


def login_rules(login: p.LoginRequest, client_ip: str) -> list[tuple[str, str]]:
    """The failed-login limits a login counts against: its deviceKey, and the address it came from."""
    rules = [("device-login", f"{login.product_key}/{login.device_key}")]
    if client_ip:
        rules.append(("device-login-ip", client_ip))
    return rules


def authenticate(login: p.LoginRequest, *, gateway: DeviceRef | None = None, client_ip: str = "",
                 find: Callable[[str, str], Device | None] = find_device) -> Device:
    """Check a login (a device's own, or a sub-device's through `gateway`); refusals are traced.

    Failed logins are rate-limited per deviceKey and per client address (accounts.throttle): past
    the limit a login is refused with 429 before its sign is even checked, so guessing teaches
    nothing. The sign is checked before anything about the device's state is told: an
    unauthenticated caller learns "sign check failed" for an unknown device as for a wrong secret.
    A gateway, authenticated itself, is told more (sub-device not found, not its sub-device).
    `find`: the device lookup (the RabbitMQ auth endpoint has a leaner one).
    """
    rules = login_rules(login, client_ip)
    # the cache unreachable: devices still log in (the limit only slows guessing down)
    locked = throttle.check_all(rules, fail_open=True)
    if not locked.allowed:
        raise LoginRefused(p.TOO_MANY_REQUESTS,
                           f"Too many failed logins: retry in {locked.retry_after} s.")
    try:
        return _authenticate(login, gateway, find)
    except LoginRefused as refusal:
        if refusal.code in (p.SIGN_CHECK_FAILED, p.SUB_DEVICE_NOT_FOUND):
            throttle.hit_all(rules, fail_open=True)
            if refusal.device_id is not None:
                signals.send(signals.login_refused, device_id=refusal.device_id, code=refusal.code, at=now())
        raise


def _authenticate(login: p.LoginRequest, gateway: DeviceRef | None,
                  find: Callable[[str, str], Device | None] = find_device) -> Device:
    method = p.COMBINE_LOGIN if gateway else p.LOGIN
    device = find(login.product_key, login.device_key)
    if device is None:
        if gateway is not None:
            raise LoginRefused(p.SUB_DEVICE_NOT_FOUND, f"It failed to query device, not existed this device: "
                                                       f"{login.device_key}.")
        raise LoginRefused(p.SIGN_CHECK_FAILED, SIGN_FAILED_MESSAGE)

    def refuse(code: int, message: str) -> LoginRefused:
        trace(device.pk, "up", method, "error", code=code, message=message, payload=login.traced())
        return LoginRefused(code, message, device.pk)

    if login.sign_method.lower() not in p.SIGN_DIGESTS:
        raise refuse(p.SIGN_CHECK_FAILED, f"signmethod {login.sign_method!r} is not supported.")
    if login.secure_mode == p.DYNAMIC_ACTIVATION:
        if not device.product.dynamic_activation:
            raise refuse(p.DYNAMIC_ACTIVATION_NOT_ALLOWED,
                         "Dynamic activate is not allowed for this product: sign with the deviceSecret.")
        secret = device.product.product_secret
    elif login.secure_mode == p.STATIC_ACTIVATION:
        secret = device.device_secret
    else:
        raise refuse(p.BAD_REQUEST, f"securemode {login.secure_mode} is not supported: use 2 or 3.")
    stale = timestamp_problem(login.timestamp)
    if stale:
        raise refuse(p.SIGN_CHECK_FAILED, f"Sign check failed: {stale}.")
    if not p.sign_matches(login.signed_fields(), secret, login.sign, login.sign_method):
        raise refuse(p.SIGN_CHECK_FAILED, SIGN_FAILED_MESSAGE)
    if gateway is None and device.gateway_id is not None:
        raise refuse(p.SUB_DEVICE_DIRECT_LOGIN, "Sub device cannot connect to mqtt broker directly: "
                                                "it logs in through its gateway (combine.login).")
    if gateway is not None and device.gateway_id != gateway.id:
        raise refuse(p.SUB_DEVICE_NOT_OF_GATEWAY, f"Sub device not belong the gateway: {device.device_key}.")
    if login.secure_mode == p.DYNAMIC_ACTIVATION and device.activated_at is not None:
        raise refuse(p.DYNAMIC_ACTIVATION_NOT_ALLOWED,
                     "Dynamic activate is not allowed: the device is already activated; log in with its deviceSecret.")
    if not device.enabled:
        raise refuse(p.DEVICE_DISABLED, DISABLED_MESSAGE)
    return device


def timestamp_problem(timestamp: str) -> str | None:
    """Why a sign's timestamp is refused: not a number, or (with a sign window set) too far off."""
    window = sign_window_seconds()
    return p.timestamp_problem(timestamp, window) if window else p.timestamp_format_problem(timestamp)


def _lock(device_ids: list[int]) -> None:
    """Serialize session changes of these devices (a no-op on SQLite, where writes are serial)."""
    if device_ids:
        list(Device.objects.select_for_update().filter(pk__in=device_ids).order_by("pk").values_list("pk"))


def open_session(device: Device, transport: str, *, client_id: str = "", login: p.LoginRequest | None = None,
                 via: Session | None = None, client_ip: str = "") -> Session:
    """Mark the device online (activating it on its first login) and make this connection its holder.

    Dynamic activation (securemode 3) hands the deviceSecret out and opens no session: EnOS counts
    the device online once it logs in again with that secret.
    """
    method = p.COMBINE_LOGIN if via else p.LOGIN
    if login is not None and login.secure_mode == p.DYNAMIC_ACTIVATION:
        # activated (a second dynamic activation is refused), online only once it logs in with the secret
        Device.objects.filter(pk=device.pk, activated_at__isnull=True).update(activated_at=now())
        trace(device.pk, "up", method, "ok", message="deviceSecret issued (dynamic activation)",
              payload=login.traced())
        ref = DeviceRef.of(device)
        session = Session(session_id="", transport=transport, device=ref, client_id=client_id)
        session.issued_secret = device.device_secret
        return session
    stamp = now()
    session_id = via.session_id if via else secrets.token_hex(12)
    with transaction.atomic():
        _lock([device.pk, via.device.id] if via else [device.pk])
        state = Device.objects.filter(pk=device.pk).values("enabled", "online", "ou_id").first()
        if state is None or not state["enabled"]:
            # disabled (or deleted) between the sign check and now: the kick was sent before we could hear it
            trace(device.pk, "up", method, "error", code=p.DEVICE_DISABLED, message=DISABLED_MESSAGE)
            raise LoginRefused(p.DEVICE_DISABLED, DISABLED_MESSAGE, device.pk)
        if via is not None and not holds(via, via.device.id):
            # the gateway's session was ended (disabled, swept, replaced) before its kick arrived: a sub-device
            # brought online now would outlive the connection, which closes without ending any session
            trace(device.pk, "up", method, "error", code=p.SUB_DEVICE_NO_PERMISSION, message=GATEWAY_ENDED_MESSAGE)
            raise LoginRefused(p.SUB_DEVICE_NO_PERMISSION, GATEWAY_ENDED_MESSAGE, device.pk)
        went_online = not state["online"]
        if went_online:
            Device.objects.filter(pk=device.pk).update(online=True, last_online_at=stamp)
            Device.objects.filter(pk=device.pk, activated_at__isnull=True).update(activated_at=stamp)
            signals.send(signals.device_came_online, device_id=device.pk, at=stamp)
        held_by = DeviceSession.objects.filter(device=device).values_list("session_id", flat=True).first()
        replaced = held_by is not None and held_by != session_id
        DeviceSession.objects.update_or_create(device=device, defaults={
            "session_id": session_id, "transport": transport, "client_id": client_id,
            "via_id": via.device.id if via else None, "connected_at": stamp, "seen_at": stamp})
        if held_by != session_id:  # a sub-device logging in again through the same gateway session goes on
            if replaced:
                history.end_records([device.pk], EndReason.REPLACED, stamp)
            history.start_record(device.pk, state["ou_id"], session_id, transport, stamp,
                                 client_address=via.client_ip if via else client_ip, via_gateway=via is not None)
    if Device.objects.filter(disabled_q(), pk=device.pk).exists():
        # disabled while we held the lock: a disable locks no device (its rows carry no foreign-key check), so its
        # kick may have looked for sessions before ours committed. Read after our commit, one of the two sees the
        # other: the kick this session, or this read the disable.
        _undo_login(device.pk, session_id)
        trace(device.pk, "up", method, "error", code=p.DEVICE_DISABLED, message=DISABLED_MESSAGE)
        raise LoginRefused(p.DEVICE_DISABLED, DISABLED_MESSAGE, device.pk)
    if replaced:
        transaction.on_commit(lambda: bus.replaced(device.pk, session_id))
    ref = DeviceRef.of(device)
    trace(device.pk, "up", method, "ok",
          message="online" if went_online else "online (replaced a session)",
          payload=login.traced() if login else None)
    if via is not None:
        via.sub_devices[ref.key] = ref
        return via
    return Session(session_id=session_id, transport=transport, device=ref, client_id=client_id)


def _undo_login(device_id: int, session_id: str) -> None:
    """End the session a login just opened: its own row only (no sub-device can have joined it yet). Not
    close_session, which ends every device of the session id: for a combine.login, its gateway's too."""
    stamp = now()
    with transaction.atomic():
        _lock([device_id])
        if DeviceSession.objects.filter(device_id=device_id, session_id=session_id).delete()[0]:
            go_offline([device_id], stamp)
            history.end_records([device_id], EndReason.DISABLED, stamp, session_id=session_id)


def login_reply(request_id: str, session: Session) -> dict:
    data: dict[str, Any] = {"assetId": session.device.asset_id, "productKey": session.device.product_key,
                            "deviceKey": session.device.device_key}
    if session.issued_secret:
        data["deviceSecret"] = session.issued_secret
    return p.reply(request_id, p.SUCCESS, data)


def activation_message(session: Session) -> dict:
    """What EnOS sends on /ext/session/{pk}/{dk}/thing/activate/info after a dynamic activation."""
    device = session.device
    return p.request(f"activate-{device.id}", p.ACTIVATE_INFO, {
        "assetId": device.asset_id, "productKey": device.product_key, "deviceKey": device.device_key,
        "deviceSecret": session.issued_secret})


def go_offline(device_ids: list[int], stamp: dt.datetime) -> None:
    """Offline the devices that no session holds any more (call with the devices locked)."""
    if device_ids:
        held = set(DeviceSession.objects.filter(device_id__in=device_ids).values_list("device_id", flat=True))
        gone = [pk for pk in device_ids if pk not in held]
        if gone:
            went = list(Device.objects.filter(pk__in=gone, online=True).values_list("pk", flat=True))
            Device.objects.filter(pk__in=went, online=True).update(online=False, last_offline_at=stamp)
            if went:
                signals.send(signals.devices_went_offline, device_ids=went, at=stamp)


def close_session(session: Session, reason: str) -> bool:
    """The connection ended: its device (and sub-devices logged in through it) go offline.

    Only rows still carrying this session's id are touched: a connection replaced by a newer
    login closes without marking the device offline.
    """
    if not session.session_id:
        return False  # a dynamic activation: it never held the device
    stamp = now()
    with transaction.atomic():
        # sub-devices by the gateway's session id, not by `via`: that link is gone if the gateway was deleted
        subs = list(DeviceSession.objects.filter(session_id=session.session_id).exclude(device_id=session.device.id)
                    .values_list("device_id", flat=True))
        _lock([session.device.id, *subs])
        own = DeviceSession.objects.filter(device_id=session.device.id, session_id=session.session_id).delete()[0]
        ended = DeviceSession.objects.filter(device_id__in=subs, session_id=session.session_id).delete()[0]
        go_offline(([session.device.id] if own else []) + (subs if ended else []), stamp)
        if own:
            history.end_records([session.device.id], history.end_reason(reason), stamp, session_id=session.session_id)
        if ended:
            history.end_records(subs, EndReason.GATEWAY_OFFLINE, stamp, session_id=session.session_id)
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
        _lock([device_id])
        ended = DeviceSession.objects.filter(device_id=device_id, session_id=session.session_id).delete()[0]
        if ended:
            stamp = now()
            go_offline([device_id], stamp)
            history.end_records([device_id], history.end_reason(reason), stamp, session_id=session.session_id)
    trace(device_id, "up", p.COMBINE_LOGOUT, "ok", message=reason)
    return bool(ended)


def holds(session: Session, device_id: int) -> bool:
    """Whether this connection is still the newest holder of the device."""
    return DeviceSession.objects.filter(device_id=device_id, session_id=session.session_id).exists()


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


def replaced_sessions(held: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """Which (device id, session id) pairs a connection believes it holds are no longer the device's
    session: a newer login replaced it, or the session was ended meanwhile."""
    if not held:
        return []
    current = dict(DeviceSession.objects.filter(device_id__in={d for d, _ in held}).values_list("device_id",
                                                                                              "session_id"))
    return [(device_id, session_id) for device_id, session_id in held if current.get(device_id) != session_id]


def refuse_publish(session: Session, topic: str) -> None:
    """A publish the topic rules refused (it is never processed): traced on the publishing device."""
    trace(session.device.id, "up", topic, "error", code=p.NO_PUBLISH_PERMISSION,
          message=f"No permission to publish to {topic}.")


def forget_sessions(transport: str) -> int:
    """At a broker's start: sessions it held before a crash are gone; their devices are offline."""
    with transaction.atomic():
        ids = list(DeviceSession.objects.filter(transport=transport).values_list("device_id", flat=True))
        _lock(ids)
        DeviceSession.objects.filter(device_id__in=ids, transport=transport).delete()
        stamp = now()
        go_offline(ids, stamp)
        history.end_records(ids, EndReason.SERVER_LOST, stamp)
    return len(ids)


def touch_sessions(session_ids: list[str]) -> int:
    """The heartbeat of a server process: its live sessions (and their sub-devices' rows) are alive."""
    touched, stamp = 0, now()
    for start in range(0, len(session_ids), 5_000):
        touched += DeviceSession.objects.filter(session_id__in=session_ids[start:start + 5_000]).update(seen_at=stamp)
    return touched


def kick_disabled_sessions(held: dict[str, set[int]]) -> list[int]:
    """The devices of these live sessions (session id → the devices it speaks for) that are disabled: their kick
    was lost (the channel layer delivers at most once, and drops what waits past its expiry), so they are kicked
    again. Asked by device id, not through the session rows: the disable ended those rows before it kicked. A
    session still standing (a disable that skipped the receiver) ends here first; a disabled device has no newer
    login, so a kick addressed to the device reaches only these connections. The heartbeat asks."""
    device_ids = sorted({device_id for ids in held.values() for device_id in ids})
    disabled: list[int] = []
    for start in range(0, len(device_ids), 5_000):
        disabled += Device.objects.filter(disabled_q(), pk__in=device_ids[start:start + 5_000]).values_list("pk",
                                                                                                            flat=True)
    if disabled:
        logger.warning("%d disabled devices were still connected: kicked again", len(disabled))
        end_sessions_and_kick(disabled, "device disabled", p.DEVICE_DISABLED)
    return disabled


# sessions whose process beats (the portal's websocket workers and MQTT broker); EMQX reports its
# own disconnects through the webhook
HEARTBEAT_TRANSPORTS = (Transport.WEBSOCKET, Transport.MQTT)
STALE_REASON = "the server holding the connection stopped answering"


# sessions ended per transaction by the stale sweep: a few statements each, whatever their number, and
# short enough that logins and pages waiting on those devices' rows are not held up behind 10,000 of them
STALE_CHUNK = 2_000


def end_stale_sessions(silent_for: dt.timedelta) -> int:
    """Sessions whose process stopped beating (it crashed, or was killed) end: devices go offline.

    A process that is alive but could not beat (its database was unreachable) is told to drop the
    devices too, so that what the console shows and what the connection holds agree again.

    Set-based, per chunk of STALE_CHUNK sessions in its own transaction: the stale rows claimed (SKIP
    LOCKED: two sweeps never end one session twice), their devices locked, the rows deleted, the devices
    offlined and their records ended, one statement each; one `devices_went_offline` signal per chunk; one
    batch of kicks after each commit.
    """
    stamp = now()
    ended = 0
    while True:
        stale = _end_stale_chunk(stamp - silent_for, stamp)
        ended += len(stale)
        if len(stale) < STALE_CHUNK:
            break
    if ended:
        logger.warning("%s device sessions ended: %s", ended, STALE_REASON)
    return ended


def _end_stale_chunk(cutoff: dt.datetime, stamp: dt.datetime) -> list[tuple[int, int | None, str]]:
    with transaction.atomic():
        stale = list(DeviceSession.objects.select_for_update(skip_locked=True)
                     .filter(seen_at__lt=cutoff, transport__in=HEARTBEAT_TRANSPORTS).order_by("device_id")
                     .values_list("device_id", "via_id", "session_id")[:STALE_CHUNK])
        if not stale:
            return stale
        ids = [device_id for device_id, _, _ in stale]
        _lock(ids)
        # still these stale sessions (a login since would have touched seen_at): one DELETE for the chunk
        endings = [_ending(device_id, via_id is not None, STALE_REASON, EndReason.SERVER_LOST, gateway_went=True)
                   for device_id, via_id, _ in stale]
        _end_sessions(endings, DeviceSession.objects.filter(
            device_id__in=ids, session_id__in={s for _, _, s in stale}, seen_at__lt=cutoff), stamp)
        transaction.on_commit(lambda: bus.kick(ids, STALE_REASON, p.DEVICE_OFFLINE))
    _trace_endings(endings)
    return stale


# a session ended set-based: its device, how the end is traced (method, message), the reason its record ends with
Ending = tuple[int, str, str, EndReason]


def _ending(device_id: int, via_gateway: bool, reason: str, record_reason: EndReason, *,
            gateway_went: bool = False) -> Ending:
    """As close_session and end_sub_session trace and record one ending: a device's own session goes OFFLINE, a
    sub-device's is a COMBINE_LOGOUT (`gateway_went`: because its gateway's connection ended)."""
    if not via_gateway:
        return device_id, p.OFFLINE, reason, record_reason
    return device_id, p.COMBINE_LOGOUT, f"gateway went offline: {reason}" if gateway_went else reason, record_reason


def _end_sessions(endings: list[Ending], rows: QuerySet[DeviceSession], stamp: dt.datetime) -> None:
    """Sessions end set-based, in the caller's transaction with their devices locked: their session `rows`
    deleted (one DELETE), the devices offlined (one UPDATE, one `devices_went_offline`), their open records ended
    (one UPDATE per end reason: a device has one session row, so its open record is that session's)."""
    rows.delete()
    go_offline([device_id for device_id, *_ in endings], stamp)
    by_reason: dict[EndReason, list[int]] = {}
    for device_id, _, _, record_reason in endings:
        by_reason.setdefault(record_reason, []).append(device_id)
    for record_reason, device_ids in by_reason.items():
        history.end_records(device_ids, record_reason, stamp)


def _trace_endings(endings: list[Ending]) -> None:
    for device_id, method, message, _ in endings:  # in memory unless the device is traced
        trace(device_id, "up", method, "ok", message=message)


def end_sessions_and_kick(device_ids: list[int], reason: str, code: int) -> None:
    """End the sessions of these devices (and of the sub-devices logged in through them) here, set-based, as
    close_session would one by one; then kick their connections, telling them the session is already ended, so
    a close costs the connection's process no database work. For the devices held by a process that beats (the
    websocket workers, the MQTT broker): it, and the heartbeat under a lost kick, drops the connection.

    Per chunk of STALE_CHUNK devices, one transaction of a fixed number of statements, whatever their number."""
    for start in range(0, len(device_ids), STALE_CHUNK):
        chunk = device_ids[start:start + STALE_CHUNK]
        endings = _end_device_sessions(chunk, reason, now())
        transaction.on_commit(functools.partial(bus.kick, chunk, reason, code, ended=True))
        _trace_endings(endings)


def _end_device_sessions(device_ids: list[int], reason: str, stamp: dt.datetime) -> list[Ending]:
    with transaction.atomic():
        # a disabled or deleted device has no newer login to lose its row to
        own = Q(device_id__in=device_ids, transport__in=HEARTBEAT_TRANSPORTS)
        gateway_sessions = list(DeviceSession.objects.filter(own, via__isnull=True).values_list("session_id",
                                                                                                flat=True))
        # the sub-devices logged in through them, by the gateway's session id (as close_session finds them)
        subs = Q(session_id__in=gateway_sessions) & ~Q(device_id__in=device_ids)
        sub_ids = list(DeviceSession.objects.filter(subs).values_list("device_id", flat=True)) \
            if gateway_sessions else []
        _lock([*device_ids, *sub_ids])
        # read again under the lock: a connection may have closed, a sub-device logged in elsewhere meanwhile (one
        # that logged in through the gateway between the read and the lock is missed, as close_session misses it:
        # the stale sweep ends it; one that tries after the lock is refused, its gateway's session gone)
        rows = DeviceSession.objects.filter(own | subs & Q(device_id__in=sub_ids))
        chosen = set(device_ids)
        endings = [_ending(device_id, via_id is not None, reason, history.end_reason(reason)) if device_id in chosen
                   else _ending(device_id, True, reason, EndReason.GATEWAY_OFFLINE, gateway_went=True)
                   for device_id, via_id in rows.values_list("device_id", "via_id")]
        if endings:
            _end_sessions(endings, rows, stamp)
    return endings
