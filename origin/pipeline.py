"""The chat pipeline: route → dispatch (retries, breakers, fallback) → response → usage row."""

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from origin.accounting import Ledger
from origin.config import GatewayConfig
from origin.dispatch import Dispatcher
from origin.providers.base import ModelConfig
from origin.routing import Route, plan_route
from origin.streaming import relay
from origin.tokens import estimate_prompt_tokens
from shared import headers as h


@dataclass(frozen=True, slots=True)
class ChatRequest:
    body: dict[str, Any]
    mode: str
    prefer: str | None
    task_type: str

    @property
    def stream(self) -> bool:
        return bool(self.body.get("stream"))

    @property
    def include_usage(self) -> bool:
        options = self.body.get("stream_options") or {}
        return bool(options.get("include_usage"))


def answer_headers(ledger: Ledger, model: ModelConfig | None, cache: str) -> dict[str, str]:
    headers = {h.REQUEST_ID: ledger.request_id, h.CACHE: cache}
    if model is not None:
        headers[h.MODEL] = model.name
        headers[h.PROVIDER] = model.provider
    return headers


class ChatPipeline:
    def __init__(self, config: GatewayConfig, dispatcher: Dispatcher) -> None:
        self._config = config
        self._dispatcher = dispatcher

    def route(self, chat: ChatRequest) -> Route:
        return plan_route(
            self._config,
            requested=str(chat.body.get("model", "auto")),
            mode=chat.mode,
            task_type=chat.task_type,
            prefer=chat.prefer,
        )

    async def handle(self, chat: ChatRequest, ledger: Ledger) -> Response:
        route = self.route(chat)
        body = {key: value for key, value in chat.body.items() if key != "model"}
        if chat.stream:
            return await self._stream(chat, route, body, ledger)
        answered = await self._dispatcher.complete(route, body)
        ledger.charge(answered.model, answered.result.usage)
        ledger.settle()
        return JSONResponse(answered.result.response, headers=answer_headers(ledger, answered.model, "miss"))

    async def _stream(
        self, chat: ChatRequest, route: Route, body: dict[str, Any], ledger: Ledger
    ) -> Response:
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        answered = await self._dispatcher.open_stream(route, body, completion_id, int(time.time()))
        prompt_tokens = estimate_prompt_tokens(chat.body["messages"], chat.body.get("tools"))
        ledger.row.model_used = answered.model.name
        return SettlingStreamingResponse(
            relay(answered, ledger, include_usage=chat.include_usage, prompt_tokens=prompt_tokens),
            ledger=ledger,
            on_abandon=answered.result.stream.close,
            media_type="text/event-stream",
            headers={**answer_headers(ledger, answered.model, "miss"), "Cache-Control": "no-cache"},
        )


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
