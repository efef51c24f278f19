"""Key checks at the edge: the origin's rules and messages, answered from the KV key grants.

When KV cannot be read the answer is "cannot tell" (``None``) and the request goes to the origin,
which authenticates every request itself: failing open never admits a bad key, while failing closed
would turn a KV incident into a global outage.
"""

import logging
from dataclasses import dataclass
from typing import Final

from edge.runtime import KV
from shared.edgekv import KeyGrant, key_name
from shared.keys import key_hash, looks_like_key, parse_bearer

log = logging.getLogger("prism.edge.auth")


@dataclass(frozen=True, slots=True)
class Authorized:
    grant: KeyGrant
    key_hash: str


@dataclass(frozen=True, slots=True)
class Rejected:
    code: str
    message: str


# Codes and messages exactly as origin/auth.py answers them.
MISSING: Final = Rejected(
    "missing_api_key", "Missing API key: send 'Authorization: Bearer <your Prism key>'."
)
MALFORMED: Final = Rejected("invalid_api_key", "Malformed API key: Prism keys start with 'prism_sk_'.")
UNKNOWN: Final = Rejected("invalid_api_key", "Invalid API key.")
REVOKED: Final = Rejected("revoked_api_key", "This API key has been revoked.")


async def authenticate(authorization: str | None, kv: KV, pepper: str) -> Authorized | Rejected | None:
    token = parse_bearer(authorization)
    if token is None:
        return MISSING
    if not looks_like_key(token):
        return MALFORMED
    hashed = key_hash(token, pepper)
    try:
        raw = await kv.get(key_name(hashed))
    except Exception as error:
        log.warning("key grant unreadable, forwarding: %s", type(error).__name__)
        return None
    if raw is None:
        return UNKNOWN
    try:
        grant = KeyGrant.from_json(raw)
    except ValueError:
        # Only the origin writes grants; a broken one is treated as no grant at all.
        log.warning("malformed key grant in KV")
        return UNKNOWN
    if not grant.active:
        return REVOKED
    return Authorized(grant, hashed)
