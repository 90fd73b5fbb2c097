"""Verification codes of migration requests: drawn from `secrets`, kept only as a keyed hash.

The hash covers the request's binding (its id, the requester, the target OU and the device set),
so a code is worth nothing for any other request, and a leaked table of hashes cannot be
brute-forced without the SECRET_KEY. A code is checked with a constant-time comparison.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from collections.abc import Iterable
from datetime import timedelta

from django.utils.crypto import constant_time_compare, salted_hmac

CODE_DIGITS = 6
CODE_LIFETIME = timedelta(minutes=10)
RESEND_INTERVAL = timedelta(seconds=60)
MAX_FAILED_ATTEMPTS = 5

_KEY_SALT = "assets.migration.code"
_CODE_PATTERN = re.compile(rf"^\d{{{CODE_DIGITS}}}$")


def generate_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def normalize_code(raw: object) -> str | None:
    """The code as typed, without spaces; None when it cannot be a code at all."""
    if not isinstance(raw, str | int):
        return None
    code = re.sub(r"\s+", "", str(raw))
    return code if _CODE_PATTERN.match(code) else None


def device_set_hash(device_ids: Iterable[int], target_ou_pk: int, include_sub_devices: bool) -> str:
    """What a request moves, in one digest: the code's binding to the device set and the target."""
    payload = json.dumps({"devices": sorted(device_ids), "target": target_ou_pk, "sub": include_sub_devices},
                         separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def binding(request_pk: int, requester_pk: int, target_ou_pk: int, set_hash: str) -> str:
    return f"{request_pk}:{requester_pk}:{target_ou_pk}:{set_hash}"


def hash_code(code: str, bound_to: str) -> str:
    return salted_hmac(_KEY_SALT, f"{bound_to}|{code}", algorithm="sha256").hexdigest()


def code_matches(code: str, bound_to: str, stored_hash: str) -> bool:
    return bool(stored_hash) and constant_time_compare(hash_code(code, bound_to), stored_hash)
