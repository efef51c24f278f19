"""The chat pipeline: caches → memory → route → dispatch → response, with the usage row settled once."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from origin.cache.directive import CacheDirective
from origin.cache.exact import CacheEntry, ExactCache
from origin.cache.memory import SessionMemory, memory_applies, with_history
from origin.cache.semantic_layer import Probe, SemanticLayer
from origin.cache.singleflight import SingleFlight
from origin.chat.ledger import Finalizer, Ledger
from origin.chat.routing import AUTO, Route, plan_route
from origin.chat.streaming import relay, replay
from origin.chat.tokens import estimate_prompt_tokens
from origin.config import GatewayConfig, config_digest
from origin.controls.admission import Admission, output_cap, policy_denied
from origin.controls.generation import controls_generation
from origin.controls.policy import DEFAULT_CONTROLS, ProjectControls
from origin.ops.metrics import Metrics
from origin.providers.base import JSON, ModelConfig, Usage
from origin.providers.dispatch import Dispatcher
from origin.stores.kv import KVPublisher
from shared import headers as h
from shared.fingerprint import fingerprint
from shared.replay import fresh_identity
from shared.usage import UsageRow


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


def answer_headers(ledger: Ledger, model: str | None, provider: str | None, cache: str) -> dict[str, str]:
    headers = {h.REQUEST_ID: ledger.request_id, h.CACHE: cache}
    if model is not None and provider is not None:
        headers[h.MODEL] = model
        headers[h.PROVIDER] = provider
    return headers


@dataclass(slots=True)
class _Store:
    """Where a miss's answer goes once it is complete, and the single-flight lock it holds."""

    fp: str
    ttl_seconds: int
    route_head: str
    publish: bool  # may the answer leave the region (Workers KV, served by the edge)?
    write: bool  # False: the request only holds the single-flight lock (e.g. a TTL of 0)
    generation: str = ""  # the controls the answer is made under; the edge serves it only under them
    lock: str | None = None
    probe: Probe | None = None


class ChatPipeline:
    def __init__(
        self,
        config: GatewayConfig,
        dispatcher: Dispatcher,
        cache: ExactCache,
        flights: SingleFlight,
        memory: SessionMemory,
        admission: Admission,
        metrics: Metrics,
        *,
        flight_wait_seconds: float,
        semantic: SemanticLayer | None = None,
        kv: KVPublisher | None = None,
    ) -> None:
        self._config = config
        self._dispatcher = dispatcher
        self._cache = cache
        self._flights = flights
        self._memory = memory
        self._admission = admission
        self._metrics = metrics
        self._flight_wait = flight_wait_seconds
        self._semantic = semantic
        self._kv = kv
        self._config_digest = config_digest(config)

    def route(self, chat: ChatRequest) -> Route:
        """The candidates the project's policy allows; 403 naming the rule when none (or the named one) is."""
        policy = chat.controls.policies
        requested = str(chat.body.get("model", AUTO))
        target = self._config.models.get(self._config.aliases.get(requested, requested))
        if target is not None and (denial := policy.denial_for(target.name, target.provider)):
            raise policy_denied(denial)
        route = plan_route(
            self._config,
            requested=requested,
            mode=chat.mode,
            task_type=chat.task_type,
            prefer=chat.prefer,
            allowed=lambda model: policy.allows(model.name, model.provider),
        )
        if not route.candidates:
            raise policy_denied(f"every candidate model for mode {chat.mode!r} is denied")
        return route

    async def handle(self, chat: ChatRequest, ledger: Ledger) -> Response:
        route = self.route(chat)
        messages = chat.body["messages"]
        history: list[JSON] = []
        if chat.memory == "auto" and chat.session_id and memory_applies(messages):
            budget = chat.controls.settings.memory_token_budget
            history = await self._memory.history(ledger.row.project_id, chat.session_id, token_budget=budget)
            self._remember(chat, ledger, messages)
        # An answer that depended on server-side history is never cached or served from the cache.
        directive = CacheDirective(read=False, write=False, ttl_seconds=0) if history else chat.directive
        ledger.row.cache_status = "bypass" if directive.bypass else "miss"

        store: _Store | None = None
        if not directive.bypass:
            hit, store = await self._consult_caches(chat, ledger, route, directive)
            if hit is not None:
                return hit

        body = {key: value for key, value in chat.body.items() if key != "model"}
        if history:
            body["messages"] = with_history(messages, history)
        cap = chat.controls.policies.max_tokens_limit
        if cap is not None and output_cap(body) is None:
            body["max_tokens"] = cap
        await self._admission.reserve(ledger, chat.controls, body, route.candidates)
        if chat.stream:
            return await self._stream(chat, route, body, ledger, store)
        answered = await self._dispatcher.complete(route, body)
        ledger.charge(answered.model, answered.result.usage)
        response = ledger.answer = answered.result.response
        if store is not None and store.write and _complete(response, chat.choices):
            await self._put(store, response, answered.model, answered.result.usage)
        ledger.settle()
        model = answered.model
        return JSONResponse(
            response, headers=answer_headers(ledger, model.name, model.provider, ledger.row.cache_status)
        )

    async def _consult_caches(
        self, chat: ChatRequest, ledger: Ledger, route: Route, directive: CacheDirective
    ) -> tuple[Response | None, _Store]:
        """A hit (exact, semantic, or another request's answer via single-flight), or where a miss's
        answer will go. A single-flight lock taken here is released when the request settles."""
        project = ledger.row.project_id
        fp = fingerprint(project, chat.body, mode=chat.mode, model_prefer=chat.prefer)
        store = _Store(
            fp=fp,
            ttl_seconds=directive.ttl_seconds,
            route_head=route.candidates[0].name,
            publish=chat.controls.settings.edge_cache == "global",
            write=directive.write,
            generation=controls_generation(chat.controls, self._config_digest),
        )
        if directive.read:
            begun = await self._flights.begin(fp)
            if self._usable(begun.entry, route):
                assert begun.entry is not None
                return self._serve_hit(begun.entry, chat, ledger, "hit-exact"), store
            # A stored entry this route may not use (e.g. an alias now points elsewhere) is replaced.
            store.lock = begun.lock if begun.entry is None else await self._flights.acquire(fp)
            if store.lock is not None:
                ledger.after(self._store_releaser(store))
        store.probe = await self._probe(chat, project, route, read=directive.read)
        if store.probe is not None and self._usable(store.probe.entry, route):
            assert store.probe.entry is not None
            headers = {h.SIMILARITY: f"{store.probe.similarity:.4f}"}
            return self._serve_hit(store.probe.entry, chat, ledger, "hit-semantic", headers), store
        if directive.read and store.lock is None:
            entry = await self._flights.wait(fp, self._flight_wait)
            if self._usable(entry, route):
                assert entry is not None
                self._metrics.coalesced.inc()
                return self._serve_hit(entry, chat, ledger, "hit-exact"), store
        return None, store

    def _usable(self, entry: CacheEntry | None, route: Route) -> bool:
        """Served only while the route still starts where it did and the answering model is allowed."""
        if entry is None or not route.candidates:
            return False
        return entry.route_head == route.candidates[0].name and any(
            m.name == entry.model for m in route.candidates
        )

    async def _probe(self, chat: ChatRequest, project: str, route: Route, *, read: bool) -> Probe | None:
        if self._semantic is None or not chat.semantic:
            return None
        threshold = chat.controls.settings.semantic_threshold
        return await self._semantic.probe(
            project, route.candidates[0].name, chat.body, threshold=threshold, read=read
        )

    def _serve_hit(
        self,
        entry: CacheEntry,
        chat: ChatRequest,
        ledger: Ledger,
        status: str,
        extra: dict[str, str] | None = None,
    ) -> Response:
        ledger.charge_hit(entry, status)
        ledger.settle()
        completion = fresh_identity(entry.response)
        headers = {**answer_headers(ledger, entry.model, "cache", status), **(extra or {})}
        if chat.stream:
            stream = replay(completion, include_usage=chat.include_usage)
            return StreamingResponse(stream, media_type="text/event-stream", headers=headers)
        return JSONResponse(completion, headers=headers)

    async def _put(self, store: _Store, response: JSON, model: ModelConfig, usage: Usage) -> None:
        entry = CacheEntry.build(
            response,
            model=model.name,
            provider=model.provider,
            route_head=store.route_head,
            usage=usage,
            cost_cents=usage.cost_cents(model.price),
        )
        if store.lock is not None:
            lock, store.lock = store.lock, None
            await self._flights.finish(store.fp, entry, store.ttl_seconds, lock)
        else:
            await self._cache.put(store.fp, entry, store.ttl_seconds)
        if store.probe is not None and self._semantic is not None:
            await self._semantic.store(store.probe, entry, store.ttl_seconds)
        if store.publish and self._kv is not None:
            self._kv.publish_cache(store.fp, entry.for_edge(store.generation), store.ttl_seconds)

    def _store_releaser(self, store: _Store) -> Finalizer:
        """Drop the lock unless ``_put`` already did (when the answer was stored)."""

        async def release(row: UsageRow) -> None:
            if store.lock is not None:
                await self._flights.release(store.fp, store.lock)

        return release

    def _remember(self, chat: ChatRequest, ledger: Ledger, messages: list[JSON]) -> None:
        """Once the request is settled, store this turn (its messages and the first choice's answer)."""
        session, project = chat.session_id, ledger.row.project_id
        assert session is not None

        async def record(row: UsageRow) -> None:
            choices = (ledger.answer or {}).get("choices") or []
            if row.success and choices:
                await self._memory.record_turn(project, session, messages, choices[0]["message"])

        ledger.after(record)

    async def _stream(
        self, chat: ChatRequest, route: Route, body: dict[str, Any], ledger: Ledger, store: _Store | None
    ) -> Response:
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        answered = await self._dispatcher.open_stream(route, body, completion_id, int(time.time()))
        prompt_tokens = estimate_prompt_tokens(body["messages"], body.get("tools"))
        ledger.row.model_used = answered.model.name

        async def on_complete(completion: JSON, usage: Usage) -> None:
            ledger.answer = completion
            if store is not None and store.write and _complete(completion, chat.choices):
                await self._put(store, completion, answered.model, usage)

        model = answered.model
        return SettlingStreamingResponse(
            relay(
                answered,
                ledger,
                include_usage=chat.include_usage,
                prompt_tokens=prompt_tokens,
                on_complete=on_complete,
            ),
            ledger=ledger,
            on_abandon=answered.result.stream.close,
            media_type="text/event-stream",
            headers={
                **answer_headers(ledger, model.name, model.provider, ledger.row.cache_status),
                "Cache-Control": "no-cache",
            },
        )


def _complete(completion: JSON, expected_choices: int) -> bool:
    """Only whole answers are cached: every requested choice present and finished."""
    choices = completion.get("choices") or []
    return len(choices) == expected_choices and all(choice.get("finish_reason") for choice in choices)


class SettlingStreamingResponse(StreamingResponse):
    """Settles the ledger even when the client vanished before the body iterator ever started."""

    def __init__(
        self, content: Any, *, ledger: Ledger, on_abandon: Callable[[], None], **kwargs: Any
    ) -> None:
        super().__init__(content, **kwargs)
        self._ledger = ledger
        self._on_abandon = on_abandon

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if not self._ledger.settled:
                self._on_abandon()
                self._ledger.fail(499, "client_disconnected")
                self._ledger.settle()
