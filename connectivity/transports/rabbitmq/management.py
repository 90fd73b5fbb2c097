"""The few calls the portal makes to RabbitMQ's management API (RABBITMQ_MANAGEMENT_URL, with the
credentials of a `management`-tagged user in it): publish a message to a device through amq.topic,
and close a device's connection (`rabbitmqctl close_connection` does not close MQTT connections)."""

from __future__ import annotations

import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ...conf import rabbitmq_management_url
from .. import http_api
from .topology import DOWN_EXCHANGE, routing_key

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5
KICK_RETRY_SECONDS = 6.0


class RabbitmqUnavailable(Exception):
    """The management API is not configured or did not answer."""


def _call(method: str, path: str, body: Any = None) -> int:
    url = urllib.parse.urlsplit(rabbitmq_management_url())
    if not url.hostname:
        raise RabbitmqUnavailable("RABBITMQ_MANAGEMENT_URL is not set: the portal cannot reach devices "
                                  "behind RabbitMQ.")
    base = f"{url.scheme}://{url.hostname}{f':{url.port}' if url.port else ''}{url.path.rstrip('/')}"
    return http_api.call(base, urllib.parse.unquote(url.username or ""), urllib.parse.unquote(url.password or ""),
                         method, path, body, timeout=TIMEOUT_SECONDS, unavailable=RabbitmqUnavailable,
                         broker="RabbitMQ")


def publish(topic: str, message: dict) -> bool:
    """POST /api/exchanges/%2F/enos.down/publish: the device receives it (topology.py: through amq.topic if it
    subscribed to `topic`, and through its subscription queue's binding otherwise)."""
    try:
        status = _call("POST", f"/api/exchanges/%2F/{DOWN_EXCHANGE}/publish", {
            "properties": {"delivery_mode": 2, "app_id": "enos-portal"}, "routing_key": routing_key(topic),
            "payload": json.dumps(message), "payload_encoding": "string"})
    except RabbitmqUnavailable:
        logger.exception("could not publish to %s", topic)
        return False
    return 200 <= status < 300


def kick(connection_name: str) -> bool:
    """DELETE /api/connections/{name}: close a device's connection (its connection.closed event follows).

    The management API knows a connection only once the node has emitted its statistics
    (collect_statistics_interval, 1 s in docs/rabbitmq.md): a 404 is retried until KICK_RETRY_SECONDS.
    """
    path = f"/api/connections/{urllib.parse.quote(connection_name, safe='')}"
    deadline = time.monotonic() + KICK_RETRY_SECONDS
    try:
        while True:
            status = _call("DELETE", path)
            if status != 404 or time.monotonic() >= deadline:
                break
            time.sleep(0.25)
    except RabbitmqUnavailable:
        logger.exception("could not close %s", connection_name)
        return False
    return 200 <= status < 300 or status == 404
