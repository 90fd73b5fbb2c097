"""The few calls the portal makes to an EMQX cluster's REST API (v5): publish a message to a
device, and disconnect a client. Used when devices connect through EMQX instead of the portal's
own broker; configured with EMQX_API_URL, EMQX_API_KEY and EMQX_API_SECRET."""

from __future__ import annotations

import base64
import json
import logging
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

from ..conf import emqx_api_key, emqx_api_secret, emqx_api_url

logger = logging.getLogger(__name__)
TIMEOUT_SECONDS = 5


class EmqxUnavailable(Exception):
    """EMQX's API is not configured or did not answer."""


def _call(method: str, path: str, body: Any = None) -> int:
    base = emqx_api_url().rstrip("/")
    if not base:
        raise EmqxUnavailable("EMQX_API_URL is not set: the portal cannot reach devices behind EMQX.")
    credentials = base64.b64encode(f"{emqx_api_key()}:{emqx_api_secret()}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers={
        "Authorization": f"Basic {credentials}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - configured URL
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        raise EmqxUnavailable(f"EMQX did not answer: {error}") from error


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
