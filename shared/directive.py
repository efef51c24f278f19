"""The one parser of what a request asks of the cache: ``Cache-Control`` and ``X-Prism-Cache-TTL``."""

from dataclasses import dataclass
from typing import Final

from shared.errors import InvalidHeader
from shared.headers import CACHE_TTL
from shared.text import ASCII_WHITESPACE

MAX_TTL_SECONDS: Final = 7 * 24 * 3600
ERROR_CODE: Final = "invalid_cache_ttl_header"


@dataclass(frozen=True, slots=True)
class CacheRequest:
    """The headers' words: ``no_store`` (neither read nor write), ``no_cache`` (skip the read,
    refresh the entry), and a TTL when one was asked for."""

    no_store: bool = False
    no_cache: bool = False
    ttl_seconds: int | None = None

    def directive(self, default_ttl: int, max_ttl: int | None = None) -> "CacheDirective":
        """What to do with the cache; ``max_ttl`` (a project's retention) caps any TTL asked for."""
        ttl = default_ttl if self.ttl_seconds is None else self.ttl_seconds
        if max_ttl is not None:
            ttl = min(ttl, max_ttl)
        if self.no_store:
            return CacheDirective(read=False, write=False, ttl_seconds=ttl)
        return CacheDirective(read=not self.no_cache, write=ttl > 0, ttl_seconds=ttl)


@dataclass(frozen=True, slots=True)
class CacheDirective:
    read: bool
    write: bool
    ttl_seconds: int

    @property
    def bypass(self) -> bool:
        return not (self.read or self.write)


NO_CACHE: Final = CacheDirective(read=False, write=False, ttl_seconds=0)


def parse_cache_ttl(value: str | None) -> int | None:
    """Whole seconds from 1 to 7 days, ``None`` when absent or blank, or ``InvalidHeader``."""
    text = (value or "").strip(ASCII_WHITESPACE)
    if not text:
        return None
    if not (text.isascii() and text.isdigit() and len(text) <= 7) or not 1 <= int(text) <= MAX_TTL_SECONDS:
        raise InvalidHeader(
            CACHE_TTL,
            f"{CACHE_TTL} must be a whole number of seconds from 1 to {MAX_TTL_SECONDS}.",
            ERROR_CODE,
        )
    return int(text)


def parse_cache_control(value: str | None) -> tuple[bool, bool]:
    """``(no_store, no_cache)``; other directives (``max-age``, ``private``, …) do not apply here."""
    if not value:
        return False, False
    tokens = {token.strip(ASCII_WHITESPACE).lower() for token in value.split(",")}
    return "no-store" in tokens, "no-cache" in tokens
