"""What the fake provider does, independent of the wire format: knobs, answers, the request log, streams.

Token rule (both wires): ``count_tokens(text) = max(1, ceil(len(text) / 4))``.
Prompt tokens count every text part of the request concatenated (system, message text, tool results,
tool-call arguments); completion tokens count the reply text, or the tool-call arguments as JSON.
A ``max_tokens`` limit truncates the reply to ``4 * max_tokens`` characters.
The static cache knobs (``cache_read_tokens``, ``cache_creation_tokens``) describe a cached prefix on top
of the counted prompt: Anthropic reports the counted prompt as ``input_tokens`` and the cache tokens beside
it; OpenAI reports the sum as ``prompt_tokens`` with ``cached_tokens = cache_read_tokens``. When either is
set they replace the prompt cache for that model.
The prompt cache (``tests.fakes.prompt_cache``) is on unless ``prompt_cache`` is false (None: the fake's
default, on unless started with ``--no-prompt-cache``); ``cache_pods``, ``cache_pod_tokens``,
``cache_min_tokens`` (None: 1,024, or 2,048 for Anthropic models named "haiku"), ``model_version`` and
``tokenizer_version`` shape it. OpenAI requests spread over ``cache_pods`` (by ``prompt_cache_key``, else
at random); Anthropic's cache belongs to the workspace, so its requests all use one. A prefix written by a
request is readable once that request's ``latency_ms`` and ``stall_before_first_byte_ms`` have passed.
"""

import asyncio
import json
import math
import random
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Final, NamedTuple, get_args

from aiohttp import web

from tests.fakes.prompt_cache import CacheUsage, Part, PromptCache, Settings


@dataclass
class Behaviour:
    latency_ms: float = 0
    fail_times: int = 0
    fail_status: int = 503
    error_rate: float = 0.0
    error_status: int = 500
    stall_before_first_byte_ms: float = 0
    stall_after_chunks: int | None = None
    stall_ms: float = 0
    cut_after_chunks: int | None = None
    error_event_after_chunks: int | None = None
    chunk_delay_ms: float = 0
    reply: str | None = None
    chunks: int | None = None
    cache_read_tokens: int = 0
    cache_creation_tokens: int = 0
    prompt_cache: bool | None = None
    cache_pods: int = 4
    cache_pod_tokens: int = 1_000_000
    cache_min_tokens: int | None = None
    model_version: str = "1"
    tokenizer_version: str = "1"

    @property
    def static_cache(self) -> CacheUsage | None:
        if not (self.cache_read_tokens or self.cache_creation_tokens):
            return None
        return CacheUsage(self.cache_read_tokens, self.cache_creation_tokens, 0, within_prompt=False)

    def cache_settings(self, min_tokens: int) -> Settings:
        return Settings(
            pods=self.cache_pods,
            pod_tokens=self.cache_pod_tokens,
            min_tokens=min_tokens if self.cache_min_tokens is None else self.cache_min_tokens,
            model_version=self.model_version,
            tokenizer_version=self.tokenizer_version,
            prefill_seconds=(self.latency_ms + self.stall_before_first_byte_ms) / 1000,
        )

    @classmethod
    def from_json(cls, values: dict[str, Any]) -> "Behaviour":
        known = {f.name: f.type for f in fields(cls)}
        for name, value in values.items():
            expected = known.get(name)
            if expected is None:
                raise ValueError(f"unknown behaviour field {name!r}")
            if expected is float and isinstance(value, int):
                continue
            if isinstance(value, bool) and bool not in (expected, *get_args(expected)):
                raise ValueError(f"behaviour field {name!r} has the wrong type")
            if not isinstance(value, expected):  # type: ignore[arg-type]
                raise ValueError(f"behaviour field {name!r} has the wrong type")
        return cls(**values)


@dataclass(frozen=True)
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    json: dict[str, Any] | None
    model: str | None


@dataclass(frozen=True)
class Conversation:
    """A request reduced to what decides the answer."""

    prompt_text: str
    last_user_text: str
    tool_result: str | None
    tool_to_call: str | None


@dataclass(frozen=True)
class Answer:
    text: str | None
    tool_name: str | None
    tool_input: dict[str, str]
    truncated: bool
    prompt_tokens: int
    completion_tokens: int

    @property
    def arguments(self) -> str:
        return json.dumps(self.tool_input)


def count_tokens(text: str) -> int:
    return max(1, math.ceil(len(text) / 4))


def split_reply(text: str, chunks: int | None) -> list[str]:
    """One piece per word (keeping its trailing space), or ``chunks`` even pieces."""
    if chunks is None:
        return re.findall(r"\S+\s*|\s+", text)
    count = max(1, chunks)
    return [text[i * len(text) // count : (i + 1) * len(text) // count] for i in range(count)]


def answer(conversation: Conversation, behaviour: Behaviour, max_tokens: int | None) -> Answer:
    prompt_tokens = count_tokens(conversation.prompt_text)
    if conversation.tool_result is None and conversation.tool_to_call is not None:
        tool_input = {"input": conversation.last_user_text}
        return Answer(
            None,
            conversation.tool_to_call,
            tool_input,
            False,
            prompt_tokens,
            count_tokens(json.dumps(tool_input)),
        )
    if behaviour.reply is not None:
        text = behaviour.reply
    elif conversation.tool_result is not None:
        text = "tool said: " + conversation.tool_result
    else:
        text = "echo: " + conversation.last_user_text
    truncated = max_tokens is not None and count_tokens(text) > max_tokens
    if max_tokens is not None and truncated:
        text = text[: 4 * max(0, max_tokens)]
    return Answer(text, None, {}, truncated, prompt_tokens, count_tokens(text))


def parse_json(raw: bytes) -> dict[str, Any] | None:
    try:
        body = json.loads(raw)
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


async def _sleep_ms(ms: float) -> None:
    if ms > 0:
        await asyncio.sleep(ms / 1000)


class Admitted(NamedTuple):
    behaviour: Behaviour
    failure: int | None  # the error status to answer with
    arrived: float  # on the prompt cache's clock: what the request can read was ready by then


WORKSPACE: Final = "workspace"  # the routing key of every Anthropic request


class Stage:
    """The fake's mutable state, shared by both wires."""

    def __init__(
        self, seed: int, *, clock: Callable[[], float] = time.monotonic, prompt_cache: bool = True
    ) -> None:
        self.seed = seed
        self.prompt_cache = PromptCache(clock, seed)
        self._prompt_cache_default = prompt_cache
        self.requests: list[ReceivedRequest] = []
        self.active_streams = 0
        self.cancelled_streams = 0
        self._behaviours: dict[str, Behaviour] = {}
        self._failures_left: dict[str, int] = {}
        self._rng = random.Random(seed)

    def configure(self, model: str, behaviour: Behaviour) -> None:
        self._behaviours[model] = behaviour
        self._failures_left[model] = behaviour.fail_times

    def reset(self) -> None:
        self._behaviours.clear()
        self._failures_left.clear()
        self.requests.clear()
        self.cancelled_streams = 0
        self._rng = random.Random(self.seed)
        self.prompt_cache.flush()

    def configured_models(self) -> list[str]:
        return [model for model in self._behaviours if model != "*"]

    def cache_on(self, behaviour: Behaviour) -> bool:
        return self._prompt_cache_default if behaviour.prompt_cache is None else behaviour.prompt_cache

    def automatic_cache(
        self, model: str, admitted: Admitted, parts: Sequence[Part], routing_key: str | None
    ) -> CacheUsage:
        """OpenAI's cache usage for a request: the static knobs, else the prompt cache when on."""
        behaviour = admitted.behaviour
        if behaviour.static_cache is not None or not self.cache_on(behaviour):
            return behaviour.static_cache or CacheUsage()
        settings = behaviour.cache_settings(1024)
        return self.prompt_cache.automatic(model, settings, parts, routing_key, admitted.arrived)

    def breakpoint_cache(self, model: str, admitted: Admitted, parts: Sequence[Part]) -> CacheUsage:
        """Anthropic's cache usage for a request: the static knobs, else the prompt cache when on.
        Anthropic's cache belongs to the workspace, not to a machine: every request reads one pod."""
        behaviour = admitted.behaviour
        if behaviour.static_cache is not None or not self.cache_on(behaviour):
            return behaviour.static_cache or CacheUsage()
        settings = behaviour.cache_settings(2048 if "haiku" in model else 1024)
        return self.prompt_cache.breakpoints(model, settings, parts, WORKSPACE, admitted.arrived)

    def record(self, path: str, headers: dict[str, str], body: dict[str, Any] | None) -> None:
        model = body.get("model") if body is not None else None
        self.requests.append(ReceivedRequest(path, headers, body, model if isinstance(model, str) else None))

    def count(self, model: str | None = None, path: str | None = None) -> int:
        return sum(
            1
            for received in self.requests
            if (model is None or received.model == model) and (path is None or received.path == path)
        )

    async def admit(self, model: str) -> Admitted:
        """The behaviour for ``model`` and the error status to answer with, after the pre-header delays."""
        arrived = self.prompt_cache.now()
        key = model if model in self._behaviours else "*"
        behaviour = self._behaviours.get(key, Behaviour())
        failure: int | None = None
        if self._failures_left.get(key, 0) > 0:
            self._failures_left[key] -= 1
            failure = behaviour.fail_status
        elif behaviour.error_rate > 0 and self._rng.random() < behaviour.error_rate:
            failure = behaviour.error_status
        await _sleep_ms(behaviour.stall_before_first_byte_ms + behaviour.latency_ms)
        return Admitted(behaviour, failure, arrived)


STAGE: Final = web.AppKey("stage", Stage)


@dataclass(frozen=True)
class Script:
    """An SSE response as frames: ``body`` holds one frame per content chunk, where the stream knobs act."""

    head: list[bytes]
    body: list[bytes]
    tail: list[bytes]
    error: bytes


async def play(request: web.Request, behaviour: Behaviour, script: Script) -> web.StreamResponse:
    stage = request.app[STAGE]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    response.enable_chunked_encoding()
    stage.active_streams += 1
    try:
        await response.prepare(request)
        for frame in script.head:
            await response.write(frame)
        if await _after_chunks(0, request, response, behaviour, script):
            return response
        for sent, frame in enumerate(script.body, start=1):
            await _sleep_ms(behaviour.chunk_delay_ms)
            await response.write(frame)
            if await _after_chunks(sent, request, response, behaviour, script):
                return response
        for frame in script.tail:
            await response.write(frame)
        await response.write_eof()
    except ConnectionError:
        stage.cancelled_streams += 1
    except asyncio.CancelledError:
        stage.cancelled_streams += 1
        raise
    finally:
        stage.active_streams -= 1
    return response


async def _after_chunks(
    sent: int, request: web.Request, response: web.StreamResponse, behaviour: Behaviour, script: Script
) -> bool:
    """Apply the stream knobs due after ``sent`` content chunks; True when the stream is over."""
    if behaviour.stall_after_chunks == sent:
        await _sleep_ms(behaviour.stall_ms)
    if behaviour.cut_after_chunks == sent:
        if request.transport is not None:
            request.transport.close()
        return True
    if behaviour.error_event_after_chunks == sent:
        await response.write(script.error)
        await response.write_eof()
        return True
    return False
