"""``POST /v1/messages`` (Anthropic's Messages API) through the gateway's controls.

The key (``x-api-key`` or a bearer token), the rate limit, the headers' attribution, policy and
routing (on the request read as a chat body: the same rules and model names as chat), the budgets,
the exact cache with single-flight, fallbacks, and one usage row. Anthropic models get the request
as it came, so its ``cache_control`` blocks keep paying; other models get it translated. Errors are
in Anthropic's shape. Session memory and the semantic cache do not apply: Anthropic clients send
the whole conversation, and their answers are not chat completions.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response

from origin.cache.answers import Answers
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
from origin.http.errors import ApiError, internal_error
from origin.http.responses import JSONResponse
from origin.messages.dispatch import MessagesDispatch, Wire
from origin.messages.events import encode, replay
from origin.messages.from_chat import message_id
from origin.messages.streaming import relay_messages
from origin.messages.to_chat import chat_body
from origin.providers.base import JSON, ModelConfig, RequestFieldError, Usage
from shared.credentials import authorization
from shared.messages_body import validate_count_tokens_body, validate_messages_body
from shared.usage import CACHE_PROVIDER, HIT_EXACT, UsageRow

Store = Callable[[JSON, ModelConfig, Usage], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class MessagesRequest:
    body: JSON  # as the client sent it
    chat: ChatRequest  # the same request read as a chat body, for the controls
    wire: Wire

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))


class MessagesPipeline:
    def __init__(
        self,
        auth: Authenticator,
        controls: ControlsCache,
        ledgers: Ledgers,
        routes: Callable[[ChatRequest], Route],
        dispatch: MessagesDispatch,
        answers: Answers,
        admission: Admission,
    ) -> None:
        self._auth = auth
        self._controls = controls
        self._ledgers = ledgers
        self._routes = routes
        self._dispatch = dispatch
        self._answers = answers
        self._admission = admission

    async def handle(self, incoming: Incoming) -> Response:
        try:
            key = await self._auth.authenticate(authorization(incoming.headers))
        except ApiError as error:
            return error.anthropic_response()
        ledger = self._ledgers(key, incoming.headers)

        async def answer() -> Response:
            controls = await self._controls.of_key(key)
            await self._admission.rate_limit(key, controls)
            request = await self._parse(incoming, controls, row=ledger.row)
            return await self._answer(request, self._routes(request.chat), ledger)

        return await answered_or_refused(ledger, answer, ApiError.anthropic_response)

    async def count_tokens(self, incoming: Incoming) -> Response:
        """``POST /v1/messages/count_tokens``: Anthropic counts for its models, an estimate for others.
        Counting is free: it writes no usage row."""
        try:
            key = await self._auth.authenticate(authorization(incoming.headers))
            controls = await self._controls.of_key(key)
            request = await self._parse(incoming, controls, validate_count_tokens_body)
            view = request.chat.body
            counted = await self._dispatch.count_tokens(
                self._routes(request.chat), request.body, request.wire
            )
            if counted is None:
                counted = estimate_prompt_tokens(view["messages"], view.get("tools"))
            return JSONResponse({"input_tokens": counted})
        except ApiError as error:
            return error.anthropic_response()
        except Exception as error:
            return internal_error(error).anthropic_response()

    async def _parse(
        self,
        incoming: Incoming,
        controls: ProjectControls,
        validate: Callable[[Any], JSON] = validate_messages_body,
        row: UsageRow | None = None,
    ) -> MessagesRequest:
        """The headers first (they attribute ``row`` even when refused), then the body."""
        headers, body = await read_request(incoming, validate, row)
        chat = as_chat(_chat_body(body), headers, controls)
        if row is not None:
            row.was_streaming = bool(body.get("stream"))
            row.task_type = chat.task_type
        return MessagesRequest(body, chat, _wire(incoming))

    async def _answer(self, request: MessagesRequest, route: Route, ledger: Ledger) -> Response:
        chat = request.chat
        slot = await self._answers.slot(
            ledger,
            request.body,
            mode=f"messages:{chat.mode}",
            scope=cache_scope(ledger.row, chat.body, chat.controls.settings.cache_scope),
            directive=chat.directive,
            prefer=chat.prefer,
            fits=lambda entry: entry_fits(entry, route),
        )
        if slot.hit is not None:
            return self._serve_hit(slot.hit, request, ledger)

        async def store(message: JSON, model: ModelConfig, usage: Usage) -> None:
            if message.get("stop_reason") is not None:
                await slot.fill(message, model, usage, route_head=route.candidates[0].name)

        await self._admission.reserve(ledger, chat.controls, chat.body, route.candidates)
        if request.stream:
            return await self._stream(request, route, ledger, store)
        answered = await self._dispatch.create(route, request.body, request.wire)
        model, reply = answered.model, answered.result
        ledger.charge(model, reply.usage)
        await store(reply.message, model, reply.usage)
        ledger.answer = reply.message
        ledger.settle()
        return JSONResponse(
            reply.message, headers=answer_headers(ledger, model.name, model.provider, ledger.row.cache_status)
        )

    async def _stream(self, request: MessagesRequest, route: Route, ledger: Ledger, store: Store) -> Response:
        answered = await self._dispatch.open_stream(route, request.body, request.wire)
        chat = request.chat.body
        prompt_tokens = estimate_prompt_tokens(chat["messages"], chat.get("tools"))
        ledger.row.model_used = answered.model.name

        async def on_complete(message: JSON, usage: Usage) -> None:
            await store(message, answered.model, usage)
            ledger.answer = message

        model = answered.model
        return SettlingStreamingResponse(
            relay_messages(answered, ledger, prompt_tokens=prompt_tokens, on_complete=on_complete),
            ledger=ledger,
            on_abandon=answered.result.stream.close,
            media_type="text/event-stream",
            headers={
                **answer_headers(ledger, model.name, model.provider, ledger.row.cache_status, priced=False),
                "Cache-Control": "no-cache",
            },
        )

    def _serve_hit(self, entry: CacheEntry, request: MessagesRequest, ledger: Ledger) -> Response:
        ledger.charge_hit(entry, HIT_EXACT)
        ledger.settle()
        message = {**entry.response, "id": message_id()}
        headers = answer_headers(ledger, entry.model, CACHE_PROVIDER, HIT_EXACT)
        if request.stream:
            events = replay(message)
            body = (
                b"".join(encode(event) for event in events[:-1]) + ledger.costs.comment() + encode(events[-1])
            )
            return Response(body, media_type="text/event-stream", headers=headers)
        return JSONResponse(message, headers=headers)


def _chat_body(body: JSON) -> JSON:
    try:
        return chat_body(body)
    except RequestFieldError as error:
        raise ApiError(400, str(error), code=error.code, param=error.param) from None


def _wire(incoming: Incoming) -> Wire:
    return Wire(
        version=incoming.headers.get("anthropic-version"), beta=incoming.headers.get("anthropic-beta")
    )
