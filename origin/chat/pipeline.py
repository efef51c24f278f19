"""The chat pipeline: every stage of a request, in one order, with the usage row settled once.

authenticate → (usage row opens) → controls → rate limit → parse headers and body → policy and
route → session memory → caches → budget → dispatch → response (the row settles on every path).
"""

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from origin.cache.answers import publishes_to_edge
from origin.cache.canonical import fingerprint
from origin.cache.erasure import CacheIndex, member, selectors
from origin.cache.exact import CacheEntry, ExactCache
from origin.cache.memory import SessionMemory, memory_applies, with_history
from origin.cache.scope import cache_scope
from origin.cache.semantic_layer import Probe, SemanticLayer
from origin.cache.singleflight import SingleFlight
from origin.chat.ledger import Finalizer, Ledger, Ledgers
from origin.chat.prefix_flight import Prefix, PrefixFlights, long_prefix
from origin.chat.prefix_survey import PrefixSurvey
from origin.chat.prompt_cache import with_session_cache_key
from origin.chat.request import ChatRequest, Incoming, cache_directive, read_request
from origin.chat.routing import AUTO, Route, plan_route
from origin.chat.streaming import SettlingStreamingResponse, relay
from origin.chat.tokens import estimate_prompt_tokens
from origin.config import GatewayConfig, config_digest
from origin.controls.admission import Admission, output_cap, policy_denied
from origin.controls.auth import Authenticator
from origin.controls.cache import ControlsCache
from origin.controls.generation import controls_generation
from origin.controls.pii import has_personal_data, message_texts
from origin.controls.policy import ProjectControls
from origin.http.errors import ApiError, internal_error, invalid_request
from origin.http.responses import JSONResponse
from origin.ops.metrics import Metrics
from origin.providers.base import JSON, ModelConfig, Usage
from origin.providers.dispatch import Dispatcher
from origin.stores.kv import KVPublisher
from origin.stores.postgres import KeyRecord
from shared import headers as h
from shared.chat_body import validate_chat_body
from shared.classify import classify
from shared.directive import NO_CACHE, CacheDirective
from shared.replay import fresh_identity, replay_sse
from shared.usage import BYPASS, CACHE_PROVIDER, HIT_EXACT, HIT_SEMANTIC, MISS, UsageRow


def answer_headers(
    ledger: Ledger, model: str | None, provider: str | None, cache: str, *, priced: bool = True
) -> dict[str, str]:
    """The answer's ``X-Prism-*`` headers; ``priced`` once the row holds what it cost (a stream's
    headers go before that is known: its costs come at its end)."""
    headers = {h.REQUEST_ID: ledger.request_id, h.CACHE: cache}
    if model is not None and provider is not None:
        headers[h.MODEL] = model
        headers[h.PROVIDER] = provider
    if priced:
        headers.update(ledger.costs.headers())
    return headers


Render = Callable[[ApiError, dict[str, str]], Response]


async def answered_or_refused(
    ledger: Ledger, answer: Callable[[], Awaitable[Response]], render: Render = ApiError.response
) -> Response:
    """``answer()``, or the error response its failure deserves (in the shape ``render`` gives);
    the row is settled either way."""
    try:
        return await answer()
    except ApiError as error:
        ledger.fail(error.status, error.code)
        ledger.settle()
        return render(error, {h.REQUEST_ID: ledger.request_id})
    except Exception as error:
        ledger.fail(500, "internal_error")
        ledger.settle()
        return render(internal_error(error, request_id=ledger.request_id), {h.REQUEST_ID: ledger.request_id})


def entry_fits(entry: CacheEntry | None, route: Route) -> bool:
    """A stored answer is served only while the route still starts where it did and the answering
    model is still allowed."""
    if entry is None or not route.candidates:
        return False
    return entry.route_head == route.candidates[0].name and any(
        m.name == entry.model for m in route.candidates
    )


@dataclass(slots=True)
class _Store:
    """Where a miss's answer goes once it is complete, and the single-flight lock it holds."""

    fp: str
    ttl_seconds: int
    route_head: str
    project_id: str
    session_id: str | None  # with the tags: the erasure lists the stored answer goes in
    tags: dict[str, str] | None
    publish: bool  # to Workers KV for the edge: KV is on and the project lets answers leave the region
    write: bool  # False: the request only holds the single-flight lock (e.g. a TTL of 0)
    controls: ProjectControls  # what the answer is made under: the edge serves it only under them
    lock: str | None = None
    probe: Probe | None = None


class ChatPipeline:
    def __init__(
        self,
        config: GatewayConfig,
        auth: Authenticator,
        controls: ControlsCache,
        ledgers: Ledgers,
        dispatcher: Dispatcher,
        cache: ExactCache,
        flights: SingleFlight,
        memory: SessionMemory,
        admission: Admission,
        metrics: Metrics,
        prefixes: PrefixFlights,
        survey: PrefixSurvey,
        index: CacheIndex,
        *,
        flight_wait_seconds: float,
        prompt_cache_secret: bytes,
        semantic: SemanticLayer | None = None,
        kv: KVPublisher | None = None,
    ) -> None:
        self._config = config
        self._auth = auth
        self._controls = controls
        self._ledgers = ledgers
        self._dispatcher = dispatcher
        self._cache = cache
        self._flights = flights
        self._memory = memory
        self._admission = admission
        self._metrics = metrics
        self._prefixes = prefixes
        self._survey = survey
        self._index = index
        self._flight_wait = flight_wait_seconds
        self._prompt_cache_secret = prompt_cache_secret
        self._semantic = semantic
        self._kv = kv
        self._config_digest = config_digest(config)

    async def handle(self, incoming: Incoming) -> Response:
        key = await self._auth.authenticate(incoming.headers.get("authorization"))
        return await self.serve(key, incoming)

    async def serve(self, key: KeyRecord, incoming: Incoming) -> Response:
        """Answer for an authenticated key (Prism's own warm-ups come in here)."""
        ledger = self._ledgers(key, incoming.headers)

        async def answer() -> Response:
            controls = await self._controls.of_key(key)
            await self._admission.rate_limit(key, controls)
            chat = await self._parse(incoming, controls, ledger.row)
            route = self.route(chat)
            history = await self._recall(chat, ledger)
            return await self._answer(chat, route, history, ledger)

        return await answered_or_refused(ledger, answer)

    async def _parse(self, incoming: Incoming, controls: ProjectControls, row: UsageRow) -> ChatRequest:
        """The headers first (``shared.request``; they attribute the row even when refused), then the body."""
        headers, body = await read_request(incoming, validate_chat_body, row)
        row.was_streaming = bool(body.get("stream"))
        row.task_type = classify(body["messages"], response_format=body.get("response_format"))
        settings = controls.settings
        # Personal data under the project's guard is neither cached nor remembered by the gateway.
        guarded = settings.pii_guard and has_personal_data(message_texts(body["messages"]))
        return ChatRequest(
            body=body,
            mode=headers.mode,
            prefer=headers.model_prefer,
            task_type=row.task_type,
            directive=cache_directive(headers, settings, guarded=guarded),
            controls=controls,
            session_id=headers.session_id,
            memory="auto" if headers.memory_on and settings.session_memory and not guarded else "off",
            semantic=not guarded
            and (settings.semantic_cache if headers.semantic is None else headers.semantic),
        )

    def route(self, chat: ChatRequest) -> Route:
        """Policy, checked here and only here, then the candidates it allows (403 naming the rule)."""
        policy = chat.controls.policies
        denial = policy.check_request(output_cap(chat.body), chat.stream)
        if denial is not None:
            raise policy_denied(denial)
        requested = str(chat.body.get("model", AUTO))
        target = self._config.models.get(self._config.aliases.get(requested, requested))
        if target is not None and target.endpoint != "chat":
            raise invalid_request(
                f"{requested!r} is an embeddings model: send it to POST /v1/embeddings.",
                code="model_not_supported",
                param="model",
            )
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

    async def _recall(self, chat: ChatRequest, ledger: Ledger) -> list[JSON]:
        """The session's history when memory applies; this turn is recorded once the row settles."""
        messages = chat.body["messages"]
        if chat.memory != "auto" or chat.session_id is None or not memory_applies(messages):
            return []
        budget = chat.controls.settings.memory_token_budget
        history = await self._memory.history(ledger.row.project_id, chat.session_id, token_budget=budget)
        self._remember(chat, ledger, messages)
        return history

    async def _answer(self, chat: ChatRequest, route: Route, history: list[JSON], ledger: Ledger) -> Response:
        # An answer that depended on server-side history is never cached or served from the cache, nor
        # one that no scope isolates (the project's scope is per end user and the request names none).
        scope = cache_scope(ledger.row, chat.body, chat.controls.settings.cache_scope)
        directive = NO_CACHE if history or scope is None else chat.directive
        ledger.row.cache_status = BYPASS if directive.bypass else MISS
        store: _Store | None = None
        if scope is not None and not directive.bypass:
            hit, store = await self._consult_caches(chat, ledger, route, directive, scope)
            if hit is not None:
                return hit
        body = {key: value for key, value in chat.body.items() if key != "model"}
        if history:
            body["messages"] = with_history(chat.body["messages"], history)
        cap = chat.controls.policies.max_tokens_limit
        if cap is not None and output_cap(body) is None:
            body["max_tokens"] = cap
        if chat.controls.settings.prompt_cache_key:
            body = with_session_cache_key(
                body,
                secret=self._prompt_cache_secret,
                project_id=ledger.row.project_id,
                session_id=chat.session_id,
            )
        await self._admission.reserve(ledger, chat.controls, body, route.candidates)
        guarded = self._prefix(chat, route, body, ledger)
        if chat.stream:
            return await self._stream(chat, route, body, ledger, store, guarded)
        breakpoints = chat.controls.settings.cache_breakpoints
        async with self._prefixes.around(guarded):
            answered = await self._dispatcher.complete(route, body, cache_breakpoints=breakpoints)
        ledger.charge(answered.model, answered.result.usage)
        response = ledger.answer = answered.result.response
        if store is not None and store.write and _complete(response, chat.choices):
            await self._put(store, response, answered.model, answered.result.usage)
        ledger.settle()
        model = answered.model
        return JSONResponse(
            response, headers=answer_headers(ledger, model.name, model.provider, ledger.row.cache_status)
        )

    def _prefix(self, chat: ChatRequest, route: Route, body: JSON, ledger: Ledger) -> Prefix | None:
        """The long stable prefix, for the route's first model, recorded on the row; returned when
        prefix single-flight guards it."""
        model = route.candidates[0]
        prefix = long_prefix(ledger.row.project_id, body, model, self._config.providers[model.provider].kind)
        if prefix is not None:
            ledger.row.prefix_fp, ledger.row.prefix_tokens = prefix.fp, prefix.tokens
            project = ledger.row.project_id
            ledger.after(lambda row: self._survey.survey(project, prefix.fp, prefix.text))
        return prefix if chat.controls.settings.prefix_flight else None

    async def _consult_caches(
        self, chat: ChatRequest, ledger: Ledger, route: Route, directive: CacheDirective, scope: str
    ) -> tuple[Response | None, _Store]:
        """A hit (exact, semantic, or another request's answer via single-flight), or where a miss's
        answer will go. A single-flight lock taken here is released when the request settles."""
        project = ledger.row.project_id
        fp = fingerprint(scope, chat.body, mode=chat.mode, model_prefer=chat.prefer)
        store = _Store(
            fp=fp,
            ttl_seconds=directive.ttl_seconds,
            route_head=route.candidates[0].name,
            project_id=project,
            session_id=ledger.row.session_id,
            tags=ledger.row.request_tags,
            publish=publishes_to_edge(self._kv, chat.controls, scope, project),
            controls=chat.controls,
            write=directive.write,
        )
        if directive.read:
            begun = await self._flights.begin(fp)
            if entry_fits(begun.entry, route):
                assert begun.entry is not None
                return self._serve_hit(begun.entry, chat, ledger, HIT_EXACT), store
            # A stored entry this route may not use (e.g. an alias now points elsewhere) is replaced.
            store.lock = begun.lock if begun.entry is None else await self._flights.acquire(fp)
            if store.lock is not None:
                ledger.after(self._store_releaser(store))
        store.probe = await self._probe(chat, scope, route, read=directive.read)
        if store.probe is not None and entry_fits(store.probe.entry, route):
            assert store.probe.entry is not None
            headers = {h.SIMILARITY: f"{store.probe.similarity:.4f}"}
            return self._serve_hit(store.probe.entry, chat, ledger, HIT_SEMANTIC, headers), store
        if directive.read and store.lock is None:
            entry = await self._flights.wait(fp, self._flight_wait)
            if entry_fits(entry, route):
                assert entry is not None
                self._metrics.coalesced.inc()
                return self._serve_hit(entry, chat, ledger, HIT_EXACT), store
        return None, store

    async def _probe(self, chat: ChatRequest, scope: str, route: Route, *, read: bool) -> Probe | None:
        if self._semantic is None or not chat.semantic:
            return None
        threshold = chat.controls.settings.semantic_threshold
        return await self._semantic.probe(
            scope, route.candidates[0].name, chat.body, threshold=threshold, read=read
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
        headers = {**answer_headers(ledger, entry.model, CACHE_PROVIDER, status), **(extra or {})}
        if chat.stream:
            # The whole replay is one write: nothing to stream, no client to watch.
            body = replay_sse(completion, include_usage=chat.include_usage, costs=ledger.costs)
            return Response(body, media_type="text/event-stream", headers=headers)
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
        stored = [member("exact", store.fp)]
        if store.publish and self._kv is not None:
            generation = controls_generation(store.controls, self._config_digest)
            self._kv.publish_cache(store.fp, entry.for_edge(generation), store.ttl_seconds)
            stored.append(member("edge", store.fp))
        under = selectors(store.session_id, store.tags)
        written = self._write(store, entry)  # under way while the rest is stored
        try:
            if store.probe is not None and self._semantic is not None:
                answers = await self._semantic.store(store.probe, entry, store.ttl_seconds)
                stored += [member("semantic", key) for key in answers]
            # With no semantic store in between, a leader's write (a queued script) and this listing
            # leave in one round trip.
            await self._index.add(store.project_id, under, stored, store.ttl_seconds)
        finally:  # awaited even when cancelled: a coroutine is never left unstarted
            await written

    def _write(self, store: _Store, entry: CacheEntry) -> Awaitable[bool]:
        """The exact cache's entry, started before this returns; the leader's write also drops its
        single-flight lock (one script, queued). Another request's is a plain SET, in a task of its own."""
        if store.lock is not None:
            lock, store.lock = store.lock, None
            return self._flights.finish(store.fp, entry, store.ttl_seconds, lock)
        return asyncio.ensure_future(self._cache.put(store.fp, entry, store.ttl_seconds))

    def _store_releaser(self, store: _Store) -> Finalizer:
        """Drop the lock unless ``_put`` already did (when the answer was stored)."""

        def release(row: UsageRow) -> Coroutine[Any, Any, None] | None:
            return None if store.lock is None else self._flights.release(store.fp, store.lock)

        return release

    def _remember(self, chat: ChatRequest, ledger: Ledger, messages: list[JSON]) -> None:
        """Once the request is settled, store this turn (its messages and the first choice's answer)."""
        session, project = chat.session_id, ledger.row.project_id
        assert session is not None

        ttl = self._memory.retained_seconds(chat.controls.settings.cache_max_ttl_seconds)

        async def record(row: UsageRow) -> None:
            choices = (ledger.answer or {}).get("choices") or []
            if row.success and choices and ttl > 0:
                await self._memory.record_turn(
                    project, session, messages, choices[0]["message"], ttl_seconds=ttl
                )
                under = selectors(session, row.request_tags)
                await self._index.add(project, under, [member("memory", session)], ttl)

        ledger.after(record)

    async def _stream(
        self,
        chat: ChatRequest,
        route: Route,
        body: dict[str, Any],
        ledger: Ledger,
        store: _Store | None,
        guarded: Prefix | None,
    ) -> Response:
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        async with self._prefixes.around(guarded):
            answered = await self._dispatcher.open_stream(
                route,
                body,
                completion_id,
                int(time.time()),
                cache_breakpoints=chat.controls.settings.cache_breakpoints,
            )
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
                **answer_headers(ledger, model.name, model.provider, ledger.row.cache_status, priced=False),
                "Cache-Control": "no-cache",
            },
        )


def _complete(completion: JSON, expected_choices: int) -> bool:
    """Only whole answers are cached: every requested choice present and finished."""
    choices = completion.get("choices") or []
    return len(choices) == expected_choices and all(choice.get("finish_reason") for choice in choices)
