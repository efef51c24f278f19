"""Prism API keys: format, parsing and hashing. Keys are only ever stored as hashes."""

import hmac
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Final

PREFIX: Final = "prism_sk_"
DISPLAY_PREFIX_LENGTH: Final = len(PREFIX) + 8
_KEY_PATTERN: Final = re.compile(r"prism_sk_[A-Za-z0-9_-]{43}")


def generate_key() -> str:
    """A new key: the prefix and 43 URL-safe characters (256 random bits)."""
    return PREFIX + secrets.token_urlsafe(32)


def parse_bearer(authorization: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or ``None``."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    token = token.strip()
    return token or None


def looks_like_key(text: str | None) -> bool:
    """A cheap format check, so malformed keys get a 401 before any lookup."""
    return text is not None and _KEY_PATTERN.fullmatch(text) is not None


def display_prefix(key: str) -> str:
    """The part of a key that is safe to show and to revoke by."""
    return key[:DISPLAY_PREFIX_LENGTH]


def key_hash(key: str, pepper: str) -> str:
    """Hex HMAC-SHA256 of the key under the server-side pepper."""
    return hmac.digest(pepper.encode("utf-8"), key.encode("utf-8"), "sha256").hex()


def secrets_equal(left: str, right: str) -> bool:
    """Constant-time comparison of two secrets or digests."""
    return hmac.compare_digest(left.encode("utf-8"), right.encode("utf-8"))


@dataclass(frozen=True, slots=True)
class KeyRejection:
    """Why a key is refused (a 401), worded once for both tiers."""

    code: str
    message: str


MISSING_KEY: Final = KeyRejection(
    "missing_api_key", "Missing API key: send 'Authorization: Bearer <your Prism key>'."
)
MALFORMED_KEY: Final = KeyRejection(
    "invalid_api_key", "Malformed API key: Prism keys start with 'prism_sk_'."
)
UNKNOWN_KEY: Final = KeyRejection("invalid_api_key", "Invalid API key.")
REVOKED_KEY: Final = KeyRejection("revoked_api_key", "This API key has been revoked.")
EXPIRED_KEY: Final = KeyRejection("key_expired", "This API key has expired: ask for a new one.")


def key_refusal(active: bool, expires_at: float | None, now: float) -> KeyRejection | None:
    """Why a known key is refused at ``now`` (epoch seconds), or ``None``: both tiers ask this."""
    if not active:
        return REVOKED_KEY
    if expires_at is not None and now >= expires_at:
        return EXPIRED_KEY
    return None


def models_permit(patterns: Sequence[str], model: str) -> bool:
    """Whether a key limited to these model globs (none: any model) may use ``model``; case-insensitive."""
    return not patterns or any(fnmatchcase(model.lower(), pattern.lower()) for pattern in patterns)
