"""Endpoints an EMQX cluster calls, so a deployment that outgrows one broker puts EMQX in front:
HTTP authentication, HTTP authorization, and a webhook (rule action) for client.connected,
client.disconnected and message.publish. The decisions are the same connectivity services the
portal's own broker uses.

Configure EMQX 5 with, for each, POST to the portal and header `Authorization: Bearer <EMQX_WEBHOOK_TOKEN>`:
- authentication body {"clientid": "${clientid}", "username": "${username}", "password": "${password}"}
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

from . import protocol as p
from . import services
from .conf import emqx_webhook_token

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
        services.authenticate(login)
    except (p.ProtocolError, services.LoginRefused):
        return JsonResponse(DENY)
    return JsonResponse(ALLOW)


@emqx_endpoint
def authorize(request: HttpRequest, body: dict) -> JsonResponse:
    action = str(body.get("action", ""))
    if action not in ("publish", "subscribe"):
        return JsonResponse(DENY)
    allowed = services.emqx_may(str(body.get("clientid", "")), str(body.get("topic", "")), action)
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
        session = services.emqx_connected(client_id, str(body.get("username", "")))
        return JsonResponse({"handled": session is not None})
    if event == "client.disconnected":
        closed = services.emqx_disconnected(client_id, f"disconnected ({body.get('reason') or 'unknown'})",
                                            _ms(body.get("disconnected_at")))
        return JsonResponse({"handled": closed})
    if event == "message.publish":
        payload = body.get("payload")
        answer = services.emqx_message(client_id, str(body.get("topic", "")),
                                       payload if isinstance(payload, str) else json.dumps(payload))
        return JsonResponse({"handled": True, "reply": answer})
    return JsonResponse({"handled": False})
