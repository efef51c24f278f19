"""The edge's word that it forwarded a request: ``X-Prism-Edge-Forwarded: <region>.<timestamp>.<signature>``.

The edge signs the PoP it forwarded from with the ingest secret; the origin puts the region on the
request's usage row only when the signature holds and is recent, so a client that sends the header
itself (to the edge, which drops it, or straight to the origin) names no region.
"""

import re
from typing import Final

from shared import signing

# Bound to its purpose, so a signature made for one ingest body can never pass as a region's.
_PURPOSE: Final = b"edge-region:"
_REGION: Final = re.compile(r"[A-Za-z0-9-]{1,32}")


def is_region(value: str) -> bool:
    """A PoP code as Cloudflare names one (``SIN``) or as ``DEFAULT_REGION`` may set it."""
    return _REGION.fullmatch(value) is not None


def stamp(region: str, secret: str, *, now: float) -> str:
    """The header's value for a request forwarded from ``region`` at ``now``."""
    timestamp = int(now)
    return f"{region}.{timestamp}.{signing.sign(_PURPOSE + region.encode('ascii'), timestamp, secret)}"


def forwarded_region(value: str | None, secret: str, *, now: float) -> str | None:
    """The region ``value`` vouches for, or ``None`` if it is absent, malformed, forged or stale."""
    if not value or not secret:
        return None
    region, _, rest = value.partition(".")
    timestamp, _, signature = rest.partition(".")
    if not is_region(region):
        return None
    if not signing.verify(_PURPOSE + region.encode("ascii"), timestamp, signature, secret, now=now):
        return None
    return region
