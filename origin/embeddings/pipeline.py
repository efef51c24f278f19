"""``POST /v1/embeddings`` through the gateway: the chat pipeline's controls for a deterministic answer.

Authentication, the rate limit, policy on the model, budgets (the input's estimate at the model's
input price), the exact cache with single-flight (an embedding of the same input by the same model
is the same vector, so it is cached unless the client says ``no-store``), the model's fallbacks, and
one usage row with the session and tags. The project's cache scope and retention apply, and what is
stored is listed for erasure. Embeddings have no output tokens and no semantic cache, and their
answers stay at the origin.
"""

from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from origin.cache.erasure import CacheIndex, member, selectors
from origin.cache.exact import CacheEntry
from origin.cache.scope import cache_scope
from origin.cache.singleflight import SingleFlight
from origin.chat.ledger import Ledger
from origin.chat.pipeline import answer_headers, answered_or_refused
from origin.chat.request import Incoming
from origin.chat.routing import Route
from origin.chat.tokens import estimate_tokens
from origin.config import GatewayConfig
from origin.controls.admission import Admission, policy_denied
from origin.controls.auth import Authenticator
from origin.controls.cache import ControlsCache
from origin.controls.pii import has_personal_data
from origin.controls.policy import ProjectControls
from origin.http.errors import ApiError, invalid_request, refused_body, refused_header
from origin.http.responses import JSONResponse
from origin.providers.base import ModelConfig, Usage
from origin.providers.dispatch import Dispatcher
from origin.stores.postgres import KeyRecord
from shared.directive import NO_CACHE, CacheDirective
from shared.embeddings_body import input_texts, validate_embeddings_body
from shared.errors import InvalidBody
from shared.fingerprint import fingerprint
from shared.request import parse_request_headers
from shared.usage import BYPASS, CACHE_PROVIDER, HIT_EXACT, MISS

TASK_TYPE = "embedding"
MODE = "embeddings"  # in the fingerprint: an embeddings answer is never a chat answer's


class EmbeddingsPipeline:
    def __init__(
        self,
        config: GatewayConfig,
        auth: Authenticator,
        controls: ControlsCache,
        ledgers: Callable[[KeyRecord], Ledger],
        dispatcher: Dispatcher,
        flights: SingleFlight,
        admission: Admission,
        index: CacheIndex,
        *,
        flight_wait_seconds: float,
    ) -> None:
        self._config = config
        self._auth = auth
        self._controls = controls
        self._ledgers = ledgers
        self._dispatcher = dispatcher
        self._flights = flights
        self._admission = admission
        self._index = index
        self._flight_wait = flight_wait_seconds

    async def handle(self, incoming: Incoming) -> Response:
        key = await self._auth.authenticate(incoming.headers.get("authorization"))
        ledger = self._ledgers(key)
        ledger.row.task_type = TASK_TYPE

        async def answer() -> Response:
            controls = await self._controls.get(key.org_id, key.project_id)
            await self._admission.rate_limit(key, controls)
            body, directive = await self._parse(incoming, controls, ledger)
            route = self._route(body, controls)
            return await self._answer(body, route, directive, controls, ledger)

        return await answered_or_refused(ledger, answer)

    async def _parse(
        self, incoming: Incoming, controls: ProjectControls, ledger: Ledger
    ) -> tuple[dict[str, Any], CacheDirective]:
        headers = parse_request_headers(incoming.headers)
        headers.attribute(ledger.row)
        if headers.error is not None:
            raise refused_header(headers.error)
        try:
            body = validate_embeddings_body(await incoming.read_json())
        except InvalidBody as error:
            raise refused_body(error) from None
        settings = controls.settings
        if settings.pii_guard and has_personal_data(input_texts(body)):
            return body, NO_CACHE
        return body, headers.cache.directive(settings.cache_ttl_seconds, settings.cache_max_ttl_seconds)

    def _route(self, body: dict[str, Any], controls: ProjectControls) -> Route:
        """The model asked for (an embeddings model), then its fallbacks, as policy allows."""
        requested = body["model"]
        model = self._config.models.get(self._config.aliases.get(requested, requested))
        if model is None:
            raise ApiError(
                404,
                f"The model '{requested}' does not exist or you do not have access to it.",
                code="model_not_found",
                param="model",
            )
        if model.endpoint != "embeddings":
            raise invalid_request(
                f"'{requested}' is a chat model: send it to POST /v1/chat/completions.",
                code="model_not_supported",
                param="model",
            )
        policy = controls.policies
        if denial := policy.denial_for(model.name, model.provider):
            raise policy_denied(denial)
        fallbacks = (self._config.models[name] for name in self._config.fallbacks.get(model.name, ()))
        allowed = tuple(m for m in fallbacks if policy.allows(m.name, m.provider))
        return Route((model, *allowed), mode=MODE, task_type=TASK_TYPE)

    async def _answer(
        self,
        body: dict[str, Any],
        route: Route,
        directive: CacheDirective,
        controls: ProjectControls,
        ledger: Ledger,
    ) -> Response:
        scope = cache_scope(ledger.row, body, controls.settings.cache_scope)
        if scope is None:  # the project's scope is per end user and the request names none
            directive = NO_CACHE
        ledger.row.cache_status = BYPASS if directive.bypass else MISS
        fp = fingerprint(scope or ledger.row.project_id, body, mode=MODE)
        lock = None
        if directive.read:
            begun = await self._flights.begin(fp)
            if begun.entry is not None and _usable(begun.entry, route):
                return self._serve_hit(begun.entry, ledger)
            lock = begun.lock if begun.entry is None else await self._flights.acquire(fp)
            if lock is None and _usable(entry := await self._flights.wait(fp, self._flight_wait), route):
                assert entry is not None
                return self._serve_hit(entry, ledger)
        if lock is not None:
            held = lock
            ledger.after(lambda row: self._flights.release(fp, held))
        await self._admission.hold(ledger, controls, lambda: _worst_cents(body, route.candidates))
        answered = await self._dispatcher.embed(route, {**body, "model": route.candidates[0].name})
        model, usage = answered.model, answered.result.usage
        ledger.charge(model, usage)
        response = answered.result.response
        if lock is not None and directive.write:
            entry = CacheEntry.build(
                response,
                model=model.name,
                provider=model.provider,
                route_head=route.candidates[0].name,
                usage=usage,
                cost_cents=ledger.row.cost_total_cents,
            )
            await self._flights.finish(fp, entry, directive.ttl_seconds, lock)
            under = selectors(ledger.row.session_id, ledger.row.request_tags)
            await self._index.add(ledger.row.project_id, under, [member("exact", fp)], directive.ttl_seconds)
        ledger.settle()
        return JSONResponse(
            response, headers=answer_headers(ledger, model.name, model.provider, ledger.row.cache_status)
        )

    def _serve_hit(self, entry: CacheEntry, ledger: Ledger) -> Response:
        ledger.charge_hit(entry, HIT_EXACT)
        ledger.settle()
        return JSONResponse(
            entry.response, headers=answer_headers(ledger, entry.model, CACHE_PROVIDER, HIT_EXACT)
        )


def _usable(entry: CacheEntry | None, route: Route) -> bool:
    return entry is not None and entry.route_head == route.candidates[0].name


def _worst_cents(body: dict[str, Any], candidates: tuple[ModelConfig, ...]) -> float:
    given = body["input"]
    items = [given] if isinstance(given, str) or (given and isinstance(given[0], int)) else given
    tokens = sum(estimate_tokens(item) if isinstance(item, str) else len(item) for item in items)
    usage = Usage(tokens_in=tokens)
    return max(usage.cost_cents(model.price) for model in candidates)
