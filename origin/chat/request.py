"""A chat request as the pipeline sees it: what the HTTP layer hands over, and what parsing makes of it."""

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from origin.controls.policy import DEFAULT_CONTROLS, ProjectControls
from shared.directive import CacheDirective


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
