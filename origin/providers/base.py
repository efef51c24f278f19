"""The provider seam: data about an upstream plus small pure transforms.

A provider adapter never does I/O. ``origin.providers.upstream`` sends what ``chat_request`` builds and hands
the answer back to ``chat_response`` (JSON) or to a ``StreamTranslator`` (SSE), which turn it into
OpenAI's wire format; embeddings go the same way (``embeddings_request`` / ``embeddings_response``).
Adding a provider is one module and one line in ``origin.providers``.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Protocol

JSON = dict[str, Any]

RETRYABLE_STATUSES: Final = frozenset({408, 409, 429, 500, 502, 503, 504})
"""Statuses worth another try on any HTTP API; an adapter adds its provider's own."""


@dataclass(frozen=True, slots=True)
class Price:
    """US dollars per one million tokens, as providers publish them. A cache price left out is the
    input price: ``cached_input`` for cache reads, ``cache_write`` for writes kept 5 minutes (Anthropic's
    default), ``cache_write_1h`` for writes kept an hour."""

    input: float
    output: float
    cached_input: float | None = None
    cache_write: float | None = None
    cache_write_1h: float | None = None


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    name: str
    kind: str
    base_url: str
    api_key: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    responses_api: bool = False  # serves OpenAI's /responses itself (OpenAI does; most compatibles don't)


@dataclass(frozen=True, slots=True)
class ModelConfig:
    """A model Prism offers: its public name, where it runs, and what it costs."""

    name: str
    provider: str
    upstream_model: str
    price: Price
    endpoint: str = "chat"  # or "embeddings": which API the model serves


@dataclass(slots=True)
class Usage:
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached_in: int = 0
    tokens_cache_write_5m: int = 0
    tokens_cache_write_1h: int = 0
    # What answered, in the provider's words (OpenAI's system_fingerprint, Anthropic's dated model
    # id): a change empties the provider's prompt cache.
    model_version: str | None = None

    @property
    def tokens_fresh_in(self) -> int:
        """Input neither read from nor written to the provider's cache: ``tokens_in`` counts all three."""
        cached = self.tokens_cached_in + self.tokens_cache_write_5m + self.tokens_cache_write_1h
        return max(self.tokens_in - cached, 0)

    def cost_cents(self, price: Price) -> float:
        """Cost in cents with sub-cent precision."""
        dollars = (
            self.tokens_fresh_in * price.input
            + self.tokens_cached_in * _or(price.cached_input, price.input)
            + self.tokens_cache_write_5m * _or(price.cache_write, price.input)
            + self.tokens_cache_write_1h * _or(price.cache_write_1h, price.input)
            + self.tokens_out * price.output
        ) / 1_000_000
        return dollars * 100

    def openai_usage(self) -> JSON:
        return {
            "prompt_tokens": self.tokens_in,
            "completion_tokens": self.tokens_out,
            "total_tokens": self.tokens_in + self.tokens_out,
            "prompt_tokens_details": {"cached_tokens": self.tokens_cached_in},
        }


def _or(price: float | None, otherwise: float) -> float:
    return otherwise if price is None else price


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    """What to send: ``path`` is joined to the provider's base URL."""

    path: str
    headers: Mapping[str, str]
    body: JSON


@dataclass(frozen=True, slots=True)
class SSEEvent:
    data: str
    event: str | None = None


class UpstreamStreamError(Exception):
    """The upstream reported an error inside an SSE stream."""


class RequestFieldError(ValueError):
    """A request field the adapter cannot honour as given: the client sees a 400 naming ``param``.

    ``code`` is ``unsupported_parameter`` for a field this provider cannot translate faithfully, and
    ``invalid_type`` for a value of the wrong type."""

    def __init__(self, param: str, message: str, *, code: str = "unsupported_parameter") -> None:
        super().__init__(message)
        self.param = param
        self.code = code


class NoEmbeddings(ValueError):
    """The provider has no embeddings API."""


class StreamTranslator(Protocol):
    """Turns one upstream SSE stream into OpenAI ``chat.completion.chunk`` objects."""

    usage: Usage
    finished: bool

    def feed(self, event: SSEEvent) -> list[JSON]:
        """Chunks for this event (maybe none). Raises ``UpstreamStreamError`` on an error event."""
        ...


class Adapter(Protocol):
    """One provider family's wire format."""

    @property
    def retryable_statuses(self) -> frozenset[int]:
        """HTTP statuses after which the same model is worth another try."""
        ...

    def chat_request(
        self, body: JSON, model: ModelConfig, provider: ProviderConfig, *, cache_breakpoints: bool = False
    ) -> UpstreamRequest:
        """The upstream request for an OpenAI-shaped chat body (``model`` already resolved);
        ``cache_breakpoints`` marks the stable prefix where the provider caches only marked ones."""
        ...

    def chat_response(self, data: JSON, model: ModelConfig) -> tuple[JSON, Usage]:
        """An OpenAI ``chat.completion`` object and its usage, from the upstream's JSON answer."""
        ...

    def stream_translator(self, model: ModelConfig, completion_id: str, created: int) -> StreamTranslator: ...

    def embeddings_request(
        self,
        text: str | list[Any],
        model: str,
        provider: ProviderConfig,
        *,
        dimensions: int | None = None,
        encoding_format: str = "float",
    ) -> UpstreamRequest:
        """The upstream request embedding ``text`` (a string, or a list of strings or of token ids);
        ``NoEmbeddings`` when the provider cannot embed."""
        ...

    def embeddings_response(self, data: JSON) -> list[float]:
        """The vector in the upstream's answer; ``ValueError`` when it holds none."""
        ...

    def error_message(self, status: int, data: Any) -> str:
        """A short, key-free description of an upstream error body."""
        ...
