"""What the request asks of the cache: ``Cache-Control`` and ``X-Prism-Cache-TTL``."""

from dataclasses import dataclass
from typing import Final

from origin.http.errors import invalid_request
from shared import headers as h

MAX_TTL_SECONDS: Final = 7 * 24 * 3600


@dataclass(frozen=True, slots=True)
class CacheDirective:
    read: bool
    write: bool
    ttl_seconds: int

    @property
    def bypass(self) -> bool:
        return not (self.read or self.write)


def parse_directive(cache_control: str | None, ttl_header: str | None, *, default_ttl: int) -> CacheDirective:
    """``no-store``: neither read nor write. ``no-cache``: skip the read, refresh the entry."""
    tokens = {token.strip().lower() for token in (cache_control or "").split(",")}
    ttl = default_ttl
    if ttl_header is not None and ttl_header.strip():
        text = ttl_header.strip()
        if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_TTL_SECONDS:
            raise invalid_request(
                f"{h.CACHE_TTL} must be a whole number of seconds from 1 to {MAX_TTL_SECONDS}.",
                code="invalid_cache_ttl_header",
                param=h.CACHE_TTL,
            )
        ttl = int(text)
    if "no-store" in tokens:
        return CacheDirective(read=False, write=False, ttl_seconds=ttl)
    return CacheDirective(read="no-cache" not in tokens, write=ttl > 0, ttl_seconds=ttl)
