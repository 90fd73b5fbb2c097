"""What of a message's payload a trace log may keep: no secrets or signatures, and not too much of it."""

from __future__ import annotations

import json
import math
from typing import Any

from .conf import payload_limit

REDACTED = "***"
# keys whose values are credentials wherever they appear (EnOS login params, MQTT CONNECT, replies)
SECRET_KEYS = frozenset({"sign", "signature", "password", "passwd", "pwd", "secret", "token", "accesstoken",
                         "devicesecret", "productsecret", "clientsecret", "authorization"})
SECRET_SUFFIXES = ("secret", "password", "token")
MAX_DEPTH = 20


def is_secret_key(key: Any) -> bool:
    lowered = str(key).lower().replace("_", "").replace("-", "")
    return lowered in SECRET_KEYS or lowered.endswith(SECRET_SUFFIXES)


def redact(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of `value` with every credential replaced by ***."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {_no_nul(str(k)): REDACTED if is_secret_key(k) else redact(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, depth + 1) for item in value]
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        # a raw protocol frame: redact inside it if it is JSON, else keep it as text
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and depth == 0:
            try:
                return redact(json.loads(stripped), depth + 1)
            except ValueError:
                return _no_nul(value)
        return _no_nul(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are no JSON
    if value is None or isinstance(value, bool | int | float):
        return value
    return _no_nul(str(value))


def _no_nul(text: str) -> str:
    return text.replace("\x00", "")  # PostgreSQL's jsonb cannot hold U+0000


def clean_payload(payload: Any) -> Any:
    """The payload as stored: redacted, and cut to the configured size (keeping valid JSON)."""
    if payload is None:
        return None
    cleaned = redact(payload)
    text = json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"), default=str)
    limit = payload_limit()
    size = len(text.encode("utf-8"))
    if size <= limit:
        return cleaned
    preview = text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    return {"truncated": True, "size": size, "preview": preview}
