"""What the transports share whose sockets a clustered broker holds (EMQX, RabbitMQ): sessions rebuilt
from their rows, the broker's accepted CONNECT turned into a session, a device message handled and
answered, and the broker's own publish and kick calls are in broker_api.

No portal process holds such a connection, so a session lives in the database only
(`DeviceSession`, client_id = what the broker kicks by: EMQX's client id, RabbitMQ's connection name).
"""

from __future__ import annotations

from collections.abc import Callable

from accounts import throttle

from .. import protocol as p
from ..handlers import handle_message
from ..handlers.base import error
from ..handlers.session import LoginRefused, activation_message, find_device, open_session
from ..latest import LatestValueBuffer
from ..models import DeviceSession
from ..sessions import DeviceRef, Session

Publish = Callable[[str, dict], bool]
Kick = Callable[[str], bool]


def session_of(row: DeviceSession | None) -> Session | None:
    """The session a broker-held row belongs to: its gateway's when the row is a sub-device's."""
    if row is None:
        return None
    if row.via_id is not None:
        row = (DeviceSession.objects.filter(session_id=row.session_id, via__isnull=True)
               .select_related("device__product").first())
        if row is None:
            return None
    session = Session(session_id=row.session_id, transport=row.transport, device=DeviceRef.of(row.device),
                      client_id=row.client_id)
    for sub in (DeviceSession.objects.filter(session_id=row.session_id).exclude(device_id=row.device_id)
                .select_related("device__product")):
        ref = DeviceRef.of(sub.device)
        session.sub_devices[ref.key] = ref
    return session


def session_by_client(transport: str, client_id: str) -> Session | None:
    """The session of a broker's client (a device's own row carries the client)."""
    return session_of(DeviceSession.objects.filter(transport=transport, client_id=client_id, via__isnull=True)
                      .select_related("device__product").first())


def connected(transport: str, login_client_id: str, username: str, *, client_id: str, peer: str,
              publish: Publish, kick: Kick) -> Session | None:
    """The broker accepted a CONNECT (after asking the portal's auth endpoint): the device is online.

    `login_client_id` is the MQTT client id the device signed; `client_id` what the broker kicks by.
    A refusal now (disabled meanwhile) kicks the connection.
    """
    try:
        login = p.parse_mqtt_credentials(login_client_id, username, "")
    except p.ProtocolError:
        return None
    device = find_device(login.product_key, login.device_key)
    if device is None:
        return None
    try:
        session = open_session(device, transport, client_id=client_id, login=login,
                               client_ip=throttle.ip_key(peer) if peer else "")
    except LoginRefused:
        kick(client_id)
        return None
    if session.issued_secret:
        publish(p.topic_for(login.product_key, login.device_key, p.ACTIVATE_INFO), activation_message(session))
    return session


def answer(session: Session, topic_name: str, payload: str | bytes, publish: Publish,
           latest: LatestValueBuffer | None = None) -> dict | None:
    """A message the broker accepted: handled like any other; the reply goes back through the broker.

    `latest`: the caller's buffer of latest values (it writes them before acknowledging), or None to write now.
    """
    topic = p.parse_topic(topic_name)
    if topic is None:
        return None
    try:
        content = p.decode_payload(payload)
    except p.ProtocolError as refusal:
        reply: dict | None = error(session.device.id, "", topic.method, refusal.code, refusal.message)
    else:
        reply = handle_message(session, content, topic=topic, latest=latest)
    if reply is not None and not topic.is_reply:
        publish(f"{topic_name}_reply", reply)
    return reply
