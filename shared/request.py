"""Every Prism request header, parsed once, in one order, by both tiers.

``parse_request_headers`` never raises: each header is parsed on its own, a malformed one leaves its
field at the default, and the first error in ``shared.headers.REQUEST_HEADERS`` order is kept in
``error``. Both tiers attribute the usage row from the same result (``attribute``), so a refused
request's row is the same whichever tier refused it.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from shared import headers as h
from shared.directive import CacheRequest, parse_cache_control, parse_cache_ttl
from shared.errors import InvalidHeader
from shared.memory import DEFAULT as DEFAULT_MEMORY
from shared.memory import parse_memory
from shared.mode import parse_mode
from shared.prefer import parse_model_prefer
from shared.semantic import parse_semantic
from shared.session import parse_session
from shared.tags import format_tags, parse_tags
from shared.usage import UsageRow

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class PrismHeaders:
    mode: str = h.DEFAULT_MODE
    model_prefer: str | None = None
    session_id: str | None = None
    tags: dict[str, str] | None = None
    memory: str = DEFAULT_MEMORY
    cache: CacheRequest = field(default_factory=CacheRequest)
    semantic: bool | None = None
    error: InvalidHeader | None = None

    @property
    def memory_on(self) -> bool:
        """Server-side history applies: a session, and memory not switched off."""
        return self.session_id is not None and self.memory != "off"

    def attribute(self, row: UsageRow) -> None:
        """What the headers say about the request's usage row."""
        row.mode = self.mode
        row.session_id = self.session_id
        row.request_tags = self.tags

    def as_dict(self) -> dict[str, Any]:
        """A JSON-able view (the shared tables compare it across runtimes)."""
        error = None if self.error is None else {"header": self.error.header, "code": self.error.code}
        return {
            "mode": self.mode,
            "model_prefer": self.model_prefer,
            "session_id": self.session_id,
            "tags": self.tags,
            "memory": self.memory,
            "memory_on": self.memory_on,
            "no_store": self.cache.no_store,
            "no_cache": self.cache.no_cache,
            "ttl_seconds": self.cache.ttl_seconds,
            "semantic": self.semantic,
            "error": error,
        }


def _parsed(
    headers: Mapping[str, str],
    errors: list[InvalidHeader],
    parser: Callable[[str | None], T],
    name: str,
    default: T,
) -> T:
    """``parser``'s reading of header ``name``, or ``default`` when it refuses (why goes in ``errors``).

    An absent header is ``default`` without a call: every parser reads ``None`` as its default."""
    value = headers.get(name)
    if value is None:
        return default
    try:
        return parser(value)
    except InvalidHeader as error:
        errors.append(error)
        return default


def parse_request_headers(headers: Mapping[str, str]) -> PrismHeaders:
    """``headers`` is a case-insensitive mapping (Starlette's or the edge's ``Headers``)."""
    # A module function, not a closure: a nested def rebuilds its annotations on every request.
    errors: list[InvalidHeader] = []
    session_id = _parsed(headers, errors, parse_session, h.SESSION, None)
    mode = _parsed(headers, errors, parse_mode, h.MODE, h.DEFAULT_MODE)
    model_prefer = _parsed(headers, errors, parse_model_prefer, h.MODEL_PREFER, None)
    memory = _parsed(headers, errors, parse_memory, h.MEMORY, DEFAULT_MEMORY)
    ttl = _parsed(headers, errors, parse_cache_ttl, h.CACHE_TTL, None)
    semantic = _parsed(headers, errors, parse_semantic, h.SEMANTIC, None)
    no_store, no_cache = parse_cache_control(headers.get(h.CACHE_CONTROL))
    return PrismHeaders(
        mode=mode,
        model_prefer=model_prefer,
        session_id=session_id,
        tags=parse_tags(headers.get(h.TAGS)),
        memory=memory,
        cache=CacheRequest(no_store=no_store, no_cache=no_cache, ttl_seconds=ttl),
        semantic=semantic,
        error=errors[0] if errors else None,
    )


def own_request_headers(tags: dict[str, str]) -> dict[str, str]:
    """The headers of a request the gateway sends through itself (a warm-up): tagged, never cached,
    never remembered."""
    return {h.CACHE_CONTROL: "no-store", h.MEMORY: "off", h.TAGS: format_tags(tags)}
