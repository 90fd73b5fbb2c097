"""The few calls the portal makes to an EMQX cluster's REST API (v5): publish a message to a
device, and disconnect a client. Used when devices connect through EMQX instead of the portal's
own broker; configured with EMQX_API_URL, EMQX_API_KEY and EMQX_API_SECRET."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..conf import emqx_api_key, emqx_api_secret, emqx_api_url
from . import http_api

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5


class EmqxUnavailable(Exception):
    """EMQX's API is not configured or did not answer."""


def _call(method: str, path: str, body: Any = None) -> int:
    base = emqx_api_url().rstrip("/")
    if not base:
        raise EmqxUnavailable("EMQX_API_URL is not set: the portal cannot reach devices behind EMQX.")
    return http_api.call(base, emqx_api_key(), emqx_api_secret(), method, path, body, timeout=TIMEOUT_SECONDS,
                         unavailable=EmqxUnavailable, broker="EMQX")


def publish(topic: str, message: dict, qos: int = 0) -> bool:
    """POST /publish: deliver one message to whoever (the device) subscribes to `topic`."""
    try:
        status = _call("POST", "/publish", {"topic": topic, "payload": json.dumps(message), "qos": qos,
                                            "payload_encoding": "plain"})
    except EmqxUnavailable:
        logger.exception("could not publish to %s", topic)
        return False
    return 200 <= status < 300


def kick(client_id: str) -> bool:
    """DELETE /clients/{clientid}: close a device's connection."""
    try:
        status = _call("DELETE", f"/clients/{urllib.parse.quote(client_id, safe='')}")
    except EmqxUnavailable:
        logger.exception("could not disconnect %s", client_id)
        return False
    return 200 <= status < 300 or status == 404
