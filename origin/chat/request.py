"""A chat request as the pipeline sees it: what the HTTP layer hands over, and what parsing makes of it."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from origin.controls.pii import has_personal_data, message_texts
from origin.controls.policy import DEFAULT_CONTROLS, ProjectControls, ProjectSettings
from origin.http.errors import refused_body, refused_header
from shared.classify import classify
from shared.directive import NO_CACHE, CacheDirective
from shared.errors import InvalidBody
from shared.request import PrismHeaders, parse_request_headers
from shared.usage import UsageRow


@dataclass(frozen=True, slots=True)
class Incoming:
    """The request's headers (case-insensitive) and a reader of its JSON body (size-limited)."""

    headers: Mapping[str, str]
    read_json: Callable[[], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ChatRequest:
    body: dict[str, Any]
    mode: str
    prefer: str | None
    task_type: str
    directive: CacheDirective
    controls: ProjectControls = DEFAULT_CONTROLS
    session_id: str | None = None
    memory: str = "off"
    semantic: bool = False

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options") or {}
        return bool(options.get("include_usage"))

    @property
    def choices(self) -> int:
        return int(self.body.get("n") or 1)


async def read_request(
    incoming: Incoming, validate: Callable[[Any], dict[str, Any]], row: UsageRow | None = None
) -> tuple[PrismHeaders, dict[str, Any]]:
    """The headers first (``shared.request``; they attribute ``row`` even when refused), then the
    body, checked by ``validate``: either refused is a 400 naming what was wrong."""
    headers = parse_request_headers(incoming.headers)
    if row is not None:
        headers.attribute(row)
    if headers.error is not None:
        raise refused_header(headers.error)
    try:
        return headers, validate(await incoming.read_json())
    except InvalidBody as error:
        raise refused_body(error) from None


def cache_directive(headers: PrismHeaders, settings: ProjectSettings, *, guarded: bool) -> CacheDirective:
    """What the cache may do for this request: nothing when the PII guard caught personal data."""
    if guarded:
        return NO_CACHE
    return headers.cache.directive(settings.cache_ttl_seconds, settings.cache_max_ttl_seconds)


def as_chat(view: dict[str, Any], headers: PrismHeaders, controls: ProjectControls) -> ChatRequest:
    """Another API's request read as the chat body ``view``, for the controls and routing (session
    memory and the semantic cache are chat's own)."""
    guarded = controls.settings.pii_guard and has_personal_data(message_texts(view["messages"]))
    return ChatRequest(
        body=view,
        mode=headers.mode,
        prefer=headers.model_prefer,
        task_type=classify(view["messages"], response_format=view.get("response_format")),
        directive=cache_directive(headers, controls.settings, guarded=guarded),
        controls=controls,
        session_id=headers.session_id,
    )
