"""``POST /v1/embeddings`` through the gateway: the chat pipeline's controls for a deterministic answer.

Authentication, the rate limit, policy on the model, budgets (the input's estimate at the model's
input price), the exact cache with single-flight (an embedding of the same input by the same model
is the same vector, so it is cached unless the client says ``no-store``), the model's fallbacks, and
one usage row with the session and tags. The project's cache scope and retention apply, and what is
stored is listed for erasure; with the edge cache on, answers are published for the edge to serve
too. Embeddings have no output tokens and no semantic cache.
"""

from typing import Any

from starlette.responses import Response

from origin.cache.answers import Answers
from origin.cache.exact import CacheEntry
from origin.cache.scope import cache_scope
from origin.chat.ledger import Ledger, Ledgers
from origin.chat.pipeline import answer_headers, answered_or_refused
from origin.chat.request import Incoming, cache_directive, read_request
from origin.chat.routing import Route
from origin.chat.tokens import estimate_tokens
from origin.config import GatewayConfig
from origin.controls.admission import Admission, policy_denied
from origin.controls.auth import Authenticator
from origin.controls.cache import ControlsCache
from origin.controls.pii import has_personal_data
from origin.controls.policy import ProjectControls
from origin.http.errors import ApiError, invalid_request
from origin.http.responses import JSONResponse
from origin.providers.base import ModelConfig, Usage
from origin.providers.dispatch import Dispatcher
from shared.directive import CacheDirective
from shared.embeddings_body import FINGERPRINT_MODE, TASK_TYPE, input_texts, validate_embeddings_body
from shared.usage import CACHE_PROVIDER, HIT_EXACT

MODE = FINGERPRINT_MODE


class EmbeddingsPipeline:
    def __init__(
        self,
        config: GatewayConfig,
        auth: Authenticator,
        controls: ControlsCache,
        ledgers: Ledgers,
        dispatcher: Dispatcher,
        answers: Answers,
        admission: Admission,
    ) -> None:
        self._config = config
        self._auth = auth
        self._controls = controls
        self._ledgers = ledgers
        self._dispatcher = dispatcher
        self._answers = answers
        self._admission = admission

    async def handle(self, incoming: Incoming) -> Response:
        key = await self._auth.authenticate(incoming.headers.get("authorization"))
        ledger = self._ledgers(key, incoming.headers)
        ledger.row.task_type = TASK_TYPE

        async def answer() -> Response:
            controls = await self._controls.of_key(key)
            await self._admission.rate_limit(key, controls)
            body, directive = await self._parse(incoming, controls, ledger)
            route = self._route(body, controls)
            return await self._answer(body, route, directive, controls, ledger)

        return await answered_or_refused(ledger, answer)

    async def _parse(
        self, incoming: Incoming, controls: ProjectControls, ledger: Ledger
    ) -> tuple[dict[str, Any], CacheDirective]:
        headers, body = await read_request(incoming, validate_embeddings_body, ledger.row)
        settings = controls.settings
        guarded = settings.pii_guard and has_personal_data(input_texts(body))
        return body, cache_directive(headers, settings, guarded=guarded)

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
        slot = await self._answers.slot(
            ledger,
            body,
            mode=MODE,
            scope=cache_scope(ledger.row, body, controls.settings.cache_scope),
            directive=directive,
            fits=lambda entry: _usable(entry, route),
            edge=controls,
        )
        if slot.hit is not None:
            return self._serve_hit(slot.hit, ledger)
        await self._admission.hold(
            ledger, controls, lambda: _worst_cents(body, route.candidates), lambda: _input_tokens(body)
        )
        answered = await self._dispatcher.embed(route, {**body, "model": route.candidates[0].name})
        model, usage = answered.model, answered.result.usage
        ledger.charge(model, usage)
        response = answered.result.response
        await slot.fill(response, model, usage, route_head=route.candidates[0].name)
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


def _input_tokens(body: dict[str, Any]) -> int:
    given = body["input"]
    items = [given] if isinstance(given, str) or (given and isinstance(given[0], int)) else given
    return sum(estimate_tokens(item) if isinstance(item, str) else len(item) for item in items)


def _worst_cents(body: dict[str, Any], candidates: tuple[ModelConfig, ...]) -> float:
    usage = Usage(tokens_in=_input_tokens(body))
    return max(usage.cost_cents(model.price) for model in candidates)
