"""Key checks at the edge: the origin's rules and messages (``shared.keys``), answered from KV grants.

When KV cannot be read the answer is "cannot tell" (``None``) and the request goes to the origin,
which authenticates every request itself: failing open never admits a bad key, while failing closed
would turn a KV incident into a global outage.
"""

import logging
from dataclasses import dataclass

from edge.runtime import KV
from shared.edgekv import KeyGrant, key_name
from shared.keys import (
    MALFORMED_KEY,
    MISSING_KEY,
    UNKNOWN_KEY,
    KeyRejection,
    key_hash,
    key_refusal,
    looks_like_key,
    parse_bearer,
)

log = logging.getLogger("prism.edge.auth")


@dataclass(frozen=True, slots=True)
class Authorized:
    grant: KeyGrant
    key_hash: str


async def authenticate(
    authorization: str | None, kv: KV, pepper: str, *, now: float
) -> Authorized | KeyRejection | None:
    token = parse_bearer(authorization)
    if token is None:
        return MISSING_KEY
    if not looks_like_key(token):
        return MALFORMED_KEY
    hashed = key_hash(token, pepper)
    try:
        raw = await kv.get(key_name(hashed))
    except Exception as error:
        log.warning("key grant unreadable, forwarding: %s", type(error).__name__)
        return None
    if raw is None:
        return UNKNOWN_KEY
    try:
        grant = KeyGrant.from_json(raw)
    except ValueError:
        # Only the origin writes grants; a broken one is treated as no grant at all.
        log.warning("malformed key grant in KV")
        return UNKNOWN_KEY
    if (refusal := key_refusal(grant.active, grant.expires_at, now)) is not None:
        return refusal
    return Authorized(grant, hashed)
