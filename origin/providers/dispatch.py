"""Try the route's candidates in order: retries with backoff, breakers, then fallback."""

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from origin.chat.routing import Route
from origin.config import GatewayConfig
from origin.http.errors import ApiError
from origin.ops.metrics import Metrics
from origin.providers import adapter_for
from origin.providers.base import (
    JSON,
    Adapter,
    ModelConfig,
    NoEmbeddings,
    RequestFieldError,
    StreamTranslator,
    UpstreamRequest,
    Usage,
)
from origin.providers.breakers import Breakers, Permit, backoff_delay
from origin.providers.upstream import Upstream, UpstreamFailure, UpstreamStream

T = TypeVar("T")
log = logging.getLogger("prism.dispatch")


@dataclass(slots=True)
class Answered(Generic[T]):
    model: ModelConfig
    adapter: Adapter
    result: T
    fallback: bool


@dataclass(slots=True)
class Completion:
    response: JSON
    usage: Usage


@dataclass(slots=True)
class OpenStream:
    stream: UpstreamStream
    translator: StreamTranslator


class Dispatcher:
    def __init__(
        self,
        config: GatewayConfig,
        upstream: Upstream,
        breakers: Breakers,
        metrics: Metrics,
        *,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._config = config
        self._upstream = upstream
        self._breakers = breakers
        self._metrics = metrics
        self._rng = rng or random.Random()
        self._sleep = sleep

    @property
    def upstream(self) -> Upstream:
        return self._upstream

    async def complete(
        self, route: Route, body: JSON, *, cache_breakpoints: bool = False
    ) -> Answered[Completion]:
        async def call(model: ModelConfig, adapter: Adapter) -> Completion:
            request = self.chat_request(adapter, body, model, cache_breakpoints)
            data = await self._upstream.complete(model.provider, request, adapter.error_message)
            response, usage = adapter.chat_response(data, model)
            return Completion(response, usage)

        return await self.first_success(route, call)

    async def open_stream(
        self, route: Route, body: JSON, completion_id: str, created: int, *, cache_breakpoints: bool = False
    ) -> Answered[OpenStream]:
        async def call(model: ModelConfig, adapter: Adapter) -> OpenStream:
            request = self.chat_request(adapter, {**body, "stream": True}, model, cache_breakpoints)
            stream = await self._upstream.open_stream(model.provider, request, adapter.error_message)
            return OpenStream(stream, adapter.stream_translator(model, completion_id, created))

        return await self.first_success(route, call)

    async def embed(self, route: Route, body: JSON) -> Answered[Completion]:
        """An embeddings answer (OpenAI's shape, with the public model name) from the first candidate
        that gives one; its usage counts input tokens only."""

        async def call(model: ModelConfig, adapter: Adapter) -> Completion:
            provider = self._config.providers[model.provider]
            try:
                request = adapter.embeddings_request(
                    body["input"],
                    model.upstream_model,
                    provider,
                    dimensions=body.get("dimensions"),
                    encoding_format=body.get("encoding_format") or "float",
                )
            except NoEmbeddings as error:
                raise ApiError(400, f"{model.name}: {error}", code="unsupported_request") from None
            data = await self._upstream.complete(model.provider, request, adapter.error_message)
            if not isinstance(data.get("data"), list):
                raise UpstreamFailure("protocol", f"{model.name} answered without embeddings", status=502)
            tokens = (data.get("usage") or {}).get("prompt_tokens")
            usage = Usage(tokens_in=tokens if isinstance(tokens, int) and tokens >= 0 else 0)
            return Completion({**data, "model": model.name}, usage)

        return await self.first_success(route, call)

    def chat_request(
        self, adapter: Adapter, body: JSON, model: ModelConfig, cache_breakpoints: bool
    ) -> UpstreamRequest:
        """The adapter's upstream request for a chat body; what it cannot carry is a 400."""
        provider = self._config.providers[model.provider]
        try:
            return adapter.chat_request(body, model, provider, cache_breakpoints=cache_breakpoints)
        except RequestFieldError as error:
            raise ApiError(400, f"{model.name}: {error}", code=error.code, param=error.param) from None
        except ValueError as error:
            raise ApiError(400, f"{model.name}: {error}", code="unsupported_request") from None

    async def first_success(
        self, route: Route, call: Callable[[ModelConfig, Adapter], Awaitable[T]]
    ) -> Answered[T]:
        """``call``'s result from the first candidate that gives one: retries, breakers, fallbacks."""
        last: UpstreamFailure | None = None
        tried = 0
        for model in route.candidates:
            permit = self._breakers.permit(model.name)
            if permit is Permit.DENIED:
                continue
            adapter = adapter_for(self._config.providers[model.provider].kind)
            try:
                answered, failure = await self._attempts(model, adapter, call, fallback=tried > 0)
            finally:
                # Whatever ended the attempts (a verdict was recorded, or a client error, an adapter
                # bug, a cancellation), a probe must not stay claimed: the model would leave routing.
                if permit is Permit.PROBE:
                    self._breakers.release(model.name)
            if answered is not None:
                return answered
            last = failure
            tried += 1
            log.info("falling back from %s", model.name, extra={"reason": last.kind if last else "breaker"})
        raise _exhausted(last)

    async def _attempts(
        self,
        model: ModelConfig,
        adapter: Adapter,
        call: Callable[[ModelConfig, Adapter], Awaitable[T]],
        *,
        fallback: bool,
    ) -> tuple[Answered[T] | None, UpstreamFailure | None]:
        """This model's answer, or the failure that made it give up (its breaker already told)."""
        attempts = max(self._config.retries.attempts, 1)
        for attempt in range(attempts):
            started = time.monotonic()
            try:
                result = await call(model, adapter)
            except UpstreamFailure as failure:
                self._metrics.upstream_failures.labels(model=model.name, kind=failure.kind).inc()
                if failure.client_fault:
                    raise ApiError(400, failure.message, code="upstream_rejected_request") from None
                if not failure.retryable(adapter.retryable_statuses) or attempt + 1 >= attempts:
                    self._breakers.record_failure(model.name)
                    return None, failure
                retries = self._config.retries
                await self._sleep(backoff_delay(attempt, retries, self._rng, failure.retry_after))
                continue
            self._breakers.record_success(model.name)
            self._metrics.upstream_latency.labels(provider=model.provider, model=model.name).observe(
                time.monotonic() - started
            )
            if fallback:
                self._metrics.fallbacks.labels(model=model.name).inc()
            return Answered(model, adapter, result, fallback=fallback), None
        raise AssertionError("unreachable: the last attempt always returns")


def _exhausted(last: UpstreamFailure | None) -> ApiError:
    if last is None:
        return ApiError(
            503,
            "Every candidate model is temporarily unavailable (circuit open).",
            code="upstream_unavailable",
        )
    if last.kind == "timeout":
        return ApiError(504, f"The upstream timed out: {last.message}", code="upstream_timeout")
    if last.status == 429:
        return ApiError(
            503,
            "Every candidate model is rate limited upstream; retry shortly.",
            code="upstream_rate_limited",
        )
    return ApiError(502, f"The upstream failed: {last.message}", code="upstream_error")
