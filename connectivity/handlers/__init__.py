"""The EnOS device protocol's methods, one handler each, and the one table that maps them.

Every transport hands a logged-in connection's message to `handle_message` (or, for the hot path
of data reports whose model is cached, `answer_on_loop`); both route through `dispatch`, which
finds the handler, runs it and traces the outcome. Handlers by area:

- session.py: login (sign, activation), sessions and who holds a device
- measurepoints.py: measure point post / post.batch / resume / resume.batch, events
- attributes.py: attributes and tags of the device's own record, the TSL template
- subdevices.py: combine.login / login.batch / logout, topology, sub-device registration
- commands.py: what the portal sends (services, measure point set/get, notices) and the replies
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from django.utils import translation

from .. import protocol as p
from ..latest import LatestValueBuffer
from ..sessions import ModelFeatures, Session, cached_model_features
from . import attributes, measurepoints, subdevices
from .base import Context, Refusal, error, trace
from .commands import record_command_reply

Handler = Callable[[Context], dict]


def _ping(ctx: Context) -> dict:
    return p.reply(ctx.request.id)


def _already_logged_in(ctx: Context) -> dict:
    raise Refusal(p.BAD_REQUEST, "This connection is already logged in.")


DISPATCH: dict[str, Handler] = {
    p.PING: _ping,
    p.LOGIN: _already_logged_in,
    p.MEASUREPOINT_POST: measurepoints.post,
    p.MEASUREPOINT_POST_BATCH: measurepoints.post_batch,
    p.MEASUREPOINT_RESUME: measurepoints.resume,
    p.MEASUREPOINT_RESUME_BATCH: measurepoints.resume_batch,
    p.ATTRIBUTE_QUERY: attributes.query_attributes,
    p.ATTRIBUTE_UPDATE: attributes.update_attributes,
    p.ATTRIBUTE_DELETE: attributes.delete_attributes,
    p.TAG_QUERY: attributes.query_tags,
    p.TAG_UPDATE: attributes.update_tags,
    p.TAG_DELETE: attributes.delete_tags,
    p.TSL_TEMPLATE_GET: attributes.tsl_template,
    p.COMBINE_LOGIN: subdevices.combine_login,
    p.COMBINE_LOGIN_BATCH: subdevices.combine_login_batch,
    p.COMBINE_LOGOUT: subdevices.combine_logout,
    p.TOPO_ADD: subdevices.topo_add,
    p.TOPO_GET: subdevices.topo_get,
    p.TOPO_DELETE: subdevices.topo_delete,
    p.DEVICE_REGISTER: subdevices.register,
}
# answered on the event loop when the model is cached (see answer_on_loop)
LOOP_METHODS = frozenset({p.PING, p.MEASUREPOINT_POST})
# the SDK sends `thing.event.%s.post<identifier>`: the event is named by the topic, not the method
_SDK_EVENT_RE = re.compile(r"^thing\.event\.%s\.post([A-Za-z_][A-Za-z0-9_]{0,63})\Z")


def event_of(method: str) -> str | None:
    match = p.EVENT_RE.match(method) or _SDK_EVENT_RE.match(method)
    if match:
        return match.group(1)
    return None


def find_handler(method: str) -> Handler | None:
    handler = DISPATCH.get(method)
    if handler is not None:
        return handler
    event = event_of(method)
    if event is not None:
        return lambda ctx: measurepoints.post_event(ctx, event)
    return None


def dispatch(ctx: Context) -> dict:
    """Run the method's handler; trace the request with its outcome (the one trace hook)."""
    request = ctx.request
    handler = find_handler(request.method)
    if handler is None:
        return error(ctx.target.id, request.id, request.method, p.METHOD_NOT_FOUND,
                     f"Unknown method {request.method}.", payload=request.params)
    try:
        with translation.override("en"):  # what a device is told stays English: see protocol.py
            answer = handler(ctx)
    except Refusal as refusal:
        return error(ctx.target.id, request.id, request.method, refusal.code, refusal.message,
                     payload=request.params, data=refusal.data)
    trace(ctx.target.id, "up", request.method, "ok", payload=request.params)
    return answer


def _method_for_topic(request: p.Request, topic: p.Topic) -> str | None:
    """The method a topic carries, where the SDK's method and its topic disagree (events)."""
    if request.method == topic.method:
        return request.method
    topic_event = p.EVENT_RE.match(topic.method)
    if topic_event and event_of(request.method) == topic_event.group(1):
        return topic.method  # `thing.event.%s.post<id>` on /thing/event/<id>/post
    return None


def handle_message(session: Session, content: Any, *, topic: p.Topic | None = None,
                   latest: LatestValueBuffer | None = None) -> dict | None:
    """One message from a logged-in connection; the reply to send back (None for a command reply).

    `topic` is the MQTT topic it came on (it names the device and the method); `latest` is the
    connection process's buffer, or None to write latest values at once.
    """
    if topic is not None and topic.is_reply or topic is None and p.is_reply(content):
        target = session.target(topic.product_key, topic.device_key) if topic else session.device
        record_command_reply(session, content, target or session.device, topic.method if topic else "reply")
        return None
    try:
        request = p.parse_request(content)
    except p.ProtocolError as refusal:
        raw_id = content.get("id") if isinstance(content, dict) else None
        return error(session.device.id, "" if raw_id is None else str(raw_id), topic.method if topic else "?",
                     refusal.code, refusal.message, payload=content if isinstance(content, dict | list) else None)
    if topic is not None:
        method = _method_for_topic(request, topic)
        if method is None:
            return error(session.device.id, request.id, request.method, p.METHOD_TOPIC_MISMATCH,
                         f"The method {request.method} does not belong on this topic ({topic.method}).")
        request = p.Request(id=request.id, method=method, params=request.params, version=request.version,
                            product_key=topic.product_key, device_key=topic.device_key, options=request.options)
    target = session.target(request.product_key, request.device_key)
    if target is None:
        return error(session.device.id, request.id, request.method, p.NO_PUBLISH_PERMISSION,
                     f"{request.device_key} is not logged in through this gateway: combine.login first.")
    return dispatch(Context(session=session, target=target, request=request, latest=latest))


def answer_on_loop(session: Session, content: Any, latest: LatestValueBuffer) -> dict | None:
    """The reply to a report or ping when it needs no database (its model is cached), else None.

    Data reports are nearly all the traffic: answering them on the event loop spares a thread
    hop per message. Everything else (and a report whose model is not cached) returns None and
    goes through `handle_message` in a thread. Tracing is safe to call on the loop.
    """
    if not isinstance(content, dict):
        return None
    method = content.get("method")
    if not isinstance(method, str) or method not in LOOP_METHODS and not p.EVENT_RE.match(method):
        return None
    try:
        request = p.parse_request(content)
    except p.ProtocolError:
        return None
    target = session.target(request.product_key, request.device_key)
    features: ModelFeatures | None = cached_model_features(target.model_id) if target is not None else None
    if target is None or features is None:
        return None
    return dispatch(Context(session=session, target=target, request=request, latest=latest, features=features))
