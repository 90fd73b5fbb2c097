"""Endpoints an EMQX cluster calls, so a deployment that outgrows one broker puts EMQX in front:
HTTP authentication, HTTP authorization, and a webhook (rule action) for client.connected,
client.disconnected and message.publish. The decisions are the same connectivity services the
portal's own broker uses.

Configure EMQX 5 with, for each, POST to the portal and header `Authorization: Bearer <EMQX_WEBHOOK_TOKEN>`:
- authentication body {"clientid": "${clientid}", "username": "${username}", "password": "${password}",
  "peerhost": "${peerhost}"} (the address counts failed logins)
- authorization body {"clientid": "${clientid}", "username": "${username}", "topic": "${topic}",
  "action": "${action}"}
- a rule `SELECT * FROM "$events/client_connected", "$events/client_disconnected", "/sys/#", "/ext/session/#"`
  with an HTTP action whose body is `${*}`.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from accounts import throttle

from .. import protocol as p
from ..conf import emqx_webhook_token
from ..handlers.session import LoginRefused, close_session, refuse_publish
from ..handlers.session import (
    authenticate as check_login,
)
from ..models import DeviceSession, Transport
from ..sessions import Session
from . import brokers, emqx_api

# --- sessions held by an EMQX cluster (no portal process holds them: rebuilt from the database) -----

def emqx_session(client_id: str) -> Session | None:
    """The session of an EMQX client, rebuilt from its rows (its own and its sub-devices')."""
    return brokers.session_by_client(Transport.EMQX, client_id)


def emqx_connected(client_id: str, username: str, peer: str = "") -> Session | None:
    """EMQX accepted a CONNECT (after asking `authenticate` through its HTTP authentication)."""
    return brokers.connected(Transport.EMQX, client_id, username, client_id=client_id, peer=peer,
                             publish=emqx_api.publish, kick=emqx_api.kick)


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
    if session is None:
        return None
    return brokers.answer(session, topic_name, payload, emqx_api.publish)


# --- the endpoints ------------------------------------------------------------------------------------

ALLOW = {"result": "allow", "is_superuser": False}
DENY = {"result": "deny"}


def emqx_endpoint(view: Callable[[HttpRequest, dict], JsonResponse]) -> Callable[[HttpRequest], HttpResponse]:
    """POST with EMQX's bearer token and a JSON body; off (404) while no token is configured."""

    @csrf_exempt
    @require_POST
    @wraps(view)
    def wrapper(request: HttpRequest) -> HttpResponse:
        token = emqx_webhook_token()
        if not token:
            raise Http404("EMQX endpoints are off: set EMQX_WEBHOOK_TOKEN.")
        given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            return JsonResponse({"message": "bad token"}, status=401)
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return JsonResponse({"message": "the body is not JSON"}, status=400)
        if not isinstance(body, dict):
            return JsonResponse({"message": "the body must be an object"}, status=400)
        return view(request, body)

    return wrapper


@emqx_endpoint
def authenticate(request: HttpRequest, body: dict) -> JsonResponse:
    try:
        login = p.parse_mqtt_credentials(body.get("clientid"), body.get("username"), body.get("password"))
        peer = body.get("peerhost")
        check_login(login, client_ip=throttle.ip_key(str(peer)) if peer else "")
    except (p.ProtocolError, LoginRefused):
        return JsonResponse(DENY)
    return JsonResponse(ALLOW)


@emqx_endpoint
def authorize(request: HttpRequest, body: dict) -> JsonResponse:
    action = str(body.get("action", ""))
    if action not in ("publish", "subscribe"):
        return JsonResponse(DENY)
    allowed = emqx_may(str(body.get("clientid", "")), str(body.get("topic", "")), action)
    return JsonResponse({"result": "allow"} if allowed else DENY)


def _ms(value: Any) -> dt.datetime | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return dt.datetime.fromtimestamp(value / 1000, tz=dt.UTC)
    return None


@emqx_endpoint
def webhook(request: HttpRequest, body: dict) -> JsonResponse:
    event = body.get("event")
    client_id = str(body.get("clientid", ""))
    if event == "client.connected":
        peer = body.get("peerhost") or str(body.get("peername") or "").rpartition(":")[0]
        session = emqx_connected(client_id, str(body.get("username", "")), str(peer or ""))
        return JsonResponse({"handled": session is not None})
    if event == "client.disconnected":
        closed = emqx_disconnected(client_id, f"disconnected ({body.get('reason') or 'unknown'})",
                                            _ms(body.get("disconnected_at")))
        return JsonResponse({"handled": closed})
    if event == "message.publish":
        payload = body.get("payload")
        answer = emqx_message(client_id, str(body.get("topic", "")),
                                       payload if isinstance(payload, str) else json.dumps(payload))
        return JsonResponse({"handled": True, "reply": answer})
    return JsonResponse({"handled": False})
