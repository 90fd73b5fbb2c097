"""What of a message's payload a trace log may keep: no secrets or signatures, and not too much of it.

Two nets: values under credential-like keys (sign, password, deviceSecret …) are replaced whole, and
the traced device's own secrets (its deviceSecret, its product's productSecret) are masked wherever
they appear: in any string, key, nested structure or raw frame, whatever a device put them in.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from typing import Any

from .conf import payload_limit

REDACTED = "***"
# keys whose values are credentials wherever they appear (EnOS login params, MQTT CONNECT, replies)
SECRET_KEYS = frozenset({"sign", "signature", "password", "passwd", "pwd", "secret", "token", "accesstoken",
                         "devicesecret", "productsecret", "clientsecret", "authorization"})
SECRET_SUFFIXES = ("secret", "password", "token")
MAX_DEPTH = 20
# secrets shorter than this are not masked inside text: the portal generates 20+ characters, and
# masking a short value everywhere would garble payloads rather than protect anything
MIN_MASKED_SECRET = 8


def is_secret_key(key: Any) -> bool:
    lowered = str(key).lower().replace("_", "").replace("-", "")
    return lowered in SECRET_KEYS or lowered.endswith(SECRET_SUFFIXES)


def redact(value: Any, depth: int = 0, secrets: tuple[str, ...] = ()) -> Any:
    """A JSON-able copy of `value` with every credential replaced by ***: the values of credential keys,
    and each of `secrets` wherever it appears in a string (see `maskable_secrets`)."""
    if depth > MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        return {_text(k, secrets): REDACTED if is_secret_key(k) else redact(v, depth + 1, secrets)
                for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(item, depth + 1, secrets) for item in value]
    if isinstance(value, bytes | bytearray):
        value = bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, str):
        # a raw protocol frame: redact inside it if it is JSON, else keep it as text
        stripped = value.strip()
        if stripped[:1] in ("{", "[") and depth == 0:
            try:
                return redact(json.loads(stripped), depth + 1, secrets)
            except ValueError:
                return _text(value, secrets)
        return _text(value, secrets)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)  # NaN and infinities are no JSON
    if value is None or isinstance(value, bool | int | float):
        return value
    return _text(str(value), secrets)


def maskable_secrets(secrets: Iterable[str | None]) -> tuple[str, ...]:
    """The secrets worth masking inside text, longest first (one may contain another)."""
    return tuple(sorted({secret for secret in secrets if secret and len(secret) >= MIN_MASKED_SECRET},
                        key=len, reverse=True))


def mask_secrets(text: str, secrets: tuple[str, ...]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _text(value: Any, secrets: tuple[str, ...]) -> str:
    return mask_secrets(_no_nul(str(value)), secrets)


def _no_nul(text: str) -> str:
    return text.replace("\x00", "")  # PostgreSQL's jsonb cannot hold U+0000


def clean_payload(payload: Any, secrets: Iterable[str | None] = ()) -> Any:
    """The payload as stored: redacted (also of the device's own `secrets`), and cut to the configured
    size (keeping valid JSON)."""
    if payload is None:
        return None
    cleaned = redact(payload, secrets=maskable_secrets(secrets))
    text = json.dumps(cleaned, ensure_ascii=False, separators=(",", ":"), default=str)
    limit = payload_limit()
    size = len(text.encode("utf-8"))
    if size <= limit:
        return cleaned
    preview = text.encode("utf-8")[:limit].decode("utf-8", errors="ignore")
    return {"truncated": True, "size": size, "preview": preview}
