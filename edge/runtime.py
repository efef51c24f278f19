"""The seam between the Workers runtime and the edge logic: small protocols and plain types.

``edge/entry.py`` adapts the runtime's request, bindings and ``ctx.waitUntil`` to these; tests use the
in-memory twins in ``tests/edge/fakes.py``. Nothing here imports the runtime.
"""

from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlsplit

DEFAULT_MAX_BODY_BYTES: Final = 4 * 1024 * 1024

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]
Schedule = Callable[[Coroutine[Any, Any, Any]], None]
BodyReader = Callable[[], Awaitable[bytes]]


class Headers(Mapping[str, str]):
    """Read-only request headers: case-insensitive lookups, repeated names joined with ``", "``
    as the Fetch API does; ``pairs`` keeps them as received, for forwarding."""

    __slots__ = ("_pairs", "_values")

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self._pairs = tuple((str(name), str(value)) for name, value in pairs)
        values: dict[str, str] = {}
        for name, value in self._pairs:
            key = name.lower()
            values[key] = f"{values[key]}, {value}" if key in values else value
        self._values = values

    @property
    def pairs(self) -> tuple[tuple[str, str], ...]:
        return self._pairs

    def __getitem__(self, name: str) -> str:
        return self._values[name.lower()]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


class EdgeRequest:
    """The incoming request. The body is read at most once, and only when asked for."""

    def __init__(
        self, method: str, url: str, headers: Headers, *, colo: str | None, read_body: BodyReader
    ) -> None:
        parts = urlsplit(url)
        self.method = method.upper()
        self.url = url
        self.path = parts.path or "/"
        self.query = parts.query
        self.headers = headers
        self.colo = colo or None
        self._read_body = read_body
        self._body: bytes | None = None

    async def body(self) -> bytes:
        if self._body is None:
            self._body = bytes(await self._read_body())
        return self._body

    @property
    def body_read(self) -> bytes | None:
        """The body if ``body()`` consumed it (forward these bytes), else ``None`` (forward the stream)."""
        return self._body


class KV(Protocol):
    async def get(self, name: str) -> str | None: ...

    async def put(self, name: str, value: str, *, expiration_ttl: int | None = None) -> None: ...


class Poster(Protocol):
    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        """POST and return the status code; raise on a network error or after ``timeout`` seconds."""
        ...


@dataclass(frozen=True, slots=True)
class Env:
    kv: KV
    origin_url: str
    key_pepper: str
    ingest_secret: str
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    default_region: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """A response the edge produces itself."""

    status: int
    headers: dict[str, str]
    body: bytes


@dataclass(frozen=True, slots=True)
class Forward:
    """Send the request to ``url`` with the edge's ``request_headers`` added; add ``response_headers``
    to the origin's response."""

    url: str
    response_headers: dict[str, str] = field(default_factory=dict)
    request_headers: dict[str, str] = field(default_factory=dict)
