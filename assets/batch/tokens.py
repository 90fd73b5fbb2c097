"""Random tokens for many devices at once: what models.random_token makes, drawn in one go.

models.random_token calls secrets.choice once per character (~80 µs for a 20-character secret):
100,000 imported devices would spend over ten seconds there. random_tokens draws all the bytes
from the same CSPRNG at once.
"""

from __future__ import annotations

import secrets

from ..models import ALPHANUMERIC, Device, generate_device_key

SECRET_LENGTH = len(Device._meta.get_field("device_secret").default())
ASSET_ID_LENGTH = len(Device._meta.get_field("asset_id").default())
DEVICE_KEY_LENGTH = len(generate_device_key())
# byte values mapped onto the 62 letters and digits; 248 = 4 × 62, bytes above are dropped so each
# character stays equally likely
_UNBIASED = 248
_TO_ALPHANUMERIC = bytes(ord(ALPHANUMERIC[b % len(ALPHANUMERIC)]) if b < _UNBIASED else 0 for b in range(256))
_BIASED = bytes(range(_UNBIASED, 256))


def random_tokens(count: int, length: int) -> list[str]:
    """`count` tokens of `length` letters and digits."""
    needed = count * length
    letters = b""
    while len(letters) < needed:
        draw = secrets.token_bytes((needed - len(letters)) * 5 // 4 + 64)
        letters += draw.translate(_TO_ALPHANUMERIC, _BIASED)
    text = letters[:needed].decode("ascii")
    return [text[i:i + length] for i in range(0, needed, length)]
