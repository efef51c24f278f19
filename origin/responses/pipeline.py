"""``/v1/responses`` (OpenAI's Responses API) through the gateway's controls.

The controls read a request as a chat body (the stored conversation of its ``previous_response_id``
first), so the key, the rate limit, policy and routing, the budgets, the exact cache with
single-flight, fallbacks and the usage row are chat's. A provider that serves the Responses API is
sent the request natively, any other its chat translation (``ResponsesDispatch``): the conversation
lives in Prism, so a fallback to another provider continues it. A response is stored per project
(``store``, the default) for the configured retention. Session memory and the semantic cache do not
apply.
"""

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from starlette.responses import Response

from origin.cache.answers import Answers, Slot
from origin.cache.exact import CacheEntry
from origin.cache.scope import cache_scope
from origin.chat.ledger import Ledger, Ledgers
from origin.chat.pipeline import answer_headers, answered_or_refused, entry_fits
from origin.chat.request import ChatRequest, Incoming, as_chat, read_request
from origin.chat.routing import Route
from origin.chat.streaming import SettlingStreamingResponse
from origin.chat.tokens import estimate_prompt_tokens
from origin.controls.admission import Admission
from origin.controls.auth import Authenticator
from origin.controls.cache import ControlsCache
from origin.controls.policy import ProjectControls
from origin.http.errors import ApiError
from origin.http.responses import JSONResponse
from origin.providers.base import JSON, ModelConfig, RequestFieldError, Usage
from origin.responses.dispatch import ResponsesDispatch
from origin.responses.items_page import ItemsPage
from origin.responses.output import encode, replay
from origin.responses.request import ResponsesRequest
from origin.responses.streaming import relay_responses
from origin.responses.to_chat import chat_body, input_items, listed_item
from origin.stores.postgres import KeyRecord
from origin.stores.responses import UNAVAILABLE, ResponseStore, StoredResponse
from shared.responses_body import validate_responses_body
from shared.usage import CACHE_PROVIDER, HIT_EXACT, UsageRow

T = TypeVar("T")
log = logging.getLogger("prism.responses")


def _unavailable() -> ApiError:
    return ApiError(
        503, "Stored responses cannot be read right now; retry shortly.", code="responses_unavailable"
    )


def _not_found(response_id: str) -> ApiError:
    return ApiError(404, f"Response with id '{response_id}' not found.", code="response_not_found")


async def _stored(response_id: str, call: Awaitable[T | None]) -> T:
    """What the store answered for ``response_id``: a 503 when it cannot be reached, a 404 when it
    holds no such response."""
    try:
        found = await call
    except UNAVAILABLE:
        raise _unavailable() from None
    if found is None:
        raise _not_found(response_id)
    return found


class ResponsesPipeline:
    def __init__(
        self,
        auth: Authenticator,
        controls: ControlsCache,
        ledgers: Ledgers,
        routes: Callable[[ChatRequest], Route],
        dispatch: ResponsesDispatch,
        answers: Answers,
        admission: Admission,
        store: ResponseStore,
    ) -> None:
        self._auth = auth
        self._controls = controls
        self._ledgers = ledgers
        self._routes = routes
        self._dispatch = dispatch
        self._answers = answers
        self._admission = admission
        self._store = store

    async def create(self, incoming: Incoming) -> Response:
        key = await self._auth.authenticate(incoming.headers.get("authorization"))
        ledger = self._ledgers(key, incoming.headers)

        async def answer() -> Response:
            controls = await self._controls.of_key(key)
            await self._admission.rate_limit(key, controls)
            request = await self._parse(incoming, controls, key, ledger.row)
            return await self._answer(request, self._routes(request.chat), ledger)

        return await answered_or_refused(ledger, answer)

    async def retrieve(self, authorization: str | None, response_id: str) -> Response:
        key = await self._auth.authenticate(authorization)
        return JSONResponse(await _stored(response_id, self._store.get(key.project_id, response_id)))

    async def input_items(
        self, authorization: str | None, response_id: str, query: Mapping[str, str]
    ) -> Response:
        """``GET /v1/responses/{id}/input_items``: a page of what the response was asked with."""
        key = await self._auth.authenticate(authorization)
        page = ItemsPage.from_query(query)
        items = await _stored(response_id, self._store.input_items(key.project_id, response_id))
        return JSONResponse(page.of([listed_item(item, response_id, i) for i, item in enumerate(items)]))

    async def delete(self, authorization: str | None, response_id: str) -> Response:
        key = await self._auth.authenticate(authorization)
        await _stored(response_id, self._store.delete(key.project_id, response_id))
        return JSONResponse({"id": response_id, "object": "response", "deleted": True})

    async def _parse(
        self, incoming: Incoming, controls: ProjectControls, key: KeyRecord, row: UsageRow
    ) -> ResponsesRequest:
        """The headers first (they attribute the row even when refused), the body, then its history."""
        headers, body = await read_request(incoming, validate_responses_body, row)
        row.was_streaming = bool(body.get("stream"))
        history = await self._history(key, body.get("previous_response_id"))
        try:
            chat = as_chat(chat_body(body, history, strict=False), headers, controls)
        except RequestFieldError as error:
            raise ApiError(400, str(error), code=error.code, param=error.param) from None
        row.task_type = chat.task_type
        return ResponsesRequest(body, history, chat, key)

    async def _history(self, key: KeyRecord, previous: str | None) -> list[JSON]:
        if previous is None:
            return []
        try:
            items = await self._store.conversation(key.project_id, previous)
        except UNAVAILABLE:
            raise _unavailable() from None
        if items is None:
            raise ApiError(
                404,
                f"Previous response with id '{previous}' not found.",
                code="previous_response_not_found",
                param="previous_response_id",
            )
        return items

    async def _answer(self, request: ResponsesRequest, route: Route, ledger: Ledger) -> Response:
        chat = request.chat
        slot = await self._answers.slot(
            ledger,
            chat.body,  # the whole conversation, whatever id it was continued from
            mode=f"responses:{chat.mode}",
            scope=cache_scope(ledger.row, chat.body, chat.controls.settings.cache_scope),
            directive=chat.directive,
            prefer=chat.prefer,
            fits=lambda entry: entry_fits(entry, route),
        )
        if slot.hit is not None:
            return await self._serve_hit(slot.hit, request, ledger)
        await self._admission.reserve(ledger, chat.controls, chat.body, route.candidates)
        if request.stream:
            return await self._stream(request, route, ledger, slot)
        answered = await self._dispatch.create(
            route, request, cache_breakpoints=chat.controls.settings.cache_breakpoints
        )
        model, usage = answered.model, answered.result.usage
        ledger.charge(model, usage)
        response = answered.result.response
        await self._finished(request, response, model, usage, route, slot)
        ledger.settle()
        return JSONResponse(
            response, headers=answer_headers(ledger, model.name, model.provider, ledger.row.cache_status)
        )

    async def _stream(self, request: ResponsesRequest, route: Route, ledger: Ledger, slot: Slot) -> Response:
        chat = request.chat
        answered = await self._dispatch.open_stream(
            route, request, cache_breakpoints=chat.controls.settings.cache_breakpoints
        )
        model = answered.model
        ledger.row.model_used = model.name

        async def on_complete(response: JSON, usage: Usage) -> None:
            await self._finished(request, response, model, usage, route, slot)

        return SettlingStreamingResponse(
            relay_responses(
                answered,
                ledger,
                prompt_tokens=estimate_prompt_tokens(chat.body["messages"], chat.body.get("tools")),
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

    async def _finished(
        self,
        request: ResponsesRequest,
        response: JSON,
        model: ModelConfig,
        usage: Usage,
        route: Route,
        slot: Slot,
    ) -> None:
        """A whole answer is cached; any answer the client asked to keep is stored."""
        if response["status"] == "completed":
            await slot.fill(response, model, usage, route_head=route.candidates[0].name)
        await self._keep(request, response)

    async def _keep(self, request: ResponsesRequest, response: JSON) -> None:
        if not response["store"]:
            return
        stored = StoredResponse(
            project_id=request.key.project_id,
            key_id=request.key.key_id,
            previous_response_id=request.body.get("previous_response_id"),
            input_items=input_items(request.body),
            response=response,
        )
        try:
            await self._store.save(stored)
        except UNAVAILABLE as error:
            # The answer is paid for and goes out; only continuing it by id will not work.
            log.warning("could not store response %s (%s)", response["id"], type(error).__name__)

    async def _serve_hit(self, entry: CacheEntry, request: ResponsesRequest, ledger: Ledger) -> Response:
        ledger.charge_hit(entry, HIT_EXACT)
        response, events = replay(entry.response, request.shell(entry.model))
        await self._keep(request, response)
        ledger.settle()
        headers = answer_headers(ledger, entry.model, CACHE_PROVIDER, HIT_EXACT)
        if request.stream:
            body = (
                b"".join(encode(event) for event in events[:-1]) + ledger.costs.comment() + encode(events[-1])
            )
            return Response(body, media_type="text/event-stream", headers=headers)
        return JSONResponse(response, headers=headers)
