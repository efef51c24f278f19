"""HMAC signatures for the edge → origin usage hand-off."""

import hashlib
import hmac
from typing import Final

from shared.keys import secrets_equal

MAX_SKEW_SECONDS: Final = 300


def sign(body: bytes, timestamp: int, secret: str) -> str:
    """Hex HMAC-SHA256 over ``"<timestamp>." + body``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def verify(body: bytes, timestamp: str | None, signature: str | None, secret: str, *, now: float) -> bool:
    """True when the signature matches and the timestamp is within the window."""
    if not timestamp or not signature or not (timestamp.isascii() and timestamp.isdigit()):
        return False
    stamp = int(timestamp)
    if abs(now - stamp) > MAX_SKEW_SECONDS:
        return False
    return secrets_equal(sign(body, stamp, secret), signature)
