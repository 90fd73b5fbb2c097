"""One JSON call to a broker's HTTP management API with basic auth (EMQX's and RabbitMQ's alike)."""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from typing import Any


def call(base: str, username: str, password: str, method: str, path: str, body: Any, *, timeout: float,
         unavailable: type[Exception], broker: str) -> int:
    """The HTTP status of `method base+path` (an error status is returned, not raised); `unavailable` raised
    when the broker does not answer at all."""
    credentials = base64.b64encode(f"{username}:{password}".encode()).decode()
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{base}{path}", data=data, method=method, headers={
        "Authorization": f"Basic {credentials}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - configured URL
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except OSError as error:
        raise unavailable(f"{broker} did not answer: {error}") from error
