"""Sending a Responses request down the route: natively where the provider serves the Responses API,
translated to chat completions elsewhere.

Retries, breakers and fallbacks are the chat dispatcher's (``Dispatcher.first_success``); a fallback
from OpenAI to an Anthropic model translates the same conversation, since Prism holds it.
"""

import time
import uuid
from dataclasses import dataclass

from origin.chat.routing import Route
from origin.config import GatewayConfig
from origin.http.errors import ApiError
from origin.providers.base import (
    JSON,
    Adapter,
    ModelConfig,
    RequestFieldError,
    StreamTranslator,
    UpstreamRequest,
    Usage,
)
from origin.providers.dispatch import Answered, Dispatcher
from origin.providers.openai import responses_request, usage_from_responses
from origin.providers.upstream import UpstreamFailure, UpstreamStream
from origin.responses.native import native_body
from origin.responses.output import ResponseBuilder, adopt
from origin.responses.request import ResponsesRequest
from origin.responses.to_chat import chat_body

ANSWERED = ("completed", "incomplete")


@dataclass(slots=True)
class Reply:
    response: JSON
    usage: Usage


@dataclass(slots=True)
class ResponsesStream:
    """``translator`` turns a chat upstream's stream into chunks to tell as Responses events; a
    Responses upstream's events (``translator`` None) go out as they came, adopted under ``shell``."""

    stream: UpstreamStream
    shell: JSON
    translator: StreamTranslator | None


class ResponsesDispatch:
    def __init__(self, config: GatewayConfig, dispatcher: Dispatcher) -> None:
        self._config = config
        self._dispatcher = dispatcher

    def _native(self, model: ModelConfig) -> bool:
        return self._config.providers[model.provider].responses_api

    def _native_request(
        self, request: ResponsesRequest, model: ModelConfig, *, stream: bool
    ) -> UpstreamRequest:
        provider = self._config.providers[model.provider]
        return responses_request(native_body(request.body, request.history, stream=stream), model, provider)

    def _chat_request(
        self,
        request: ResponsesRequest,
        adapter: Adapter,
        model: ModelConfig,
        *,
        stream: bool,
        breakpoints: bool,
    ) -> UpstreamRequest:
        """The request's chat translation for ``adapter``; what chat cannot carry is a 400."""
        try:
            chat = chat_body(request.body, request.history, strict=True)
        except RequestFieldError as error:
            raise ApiError(400, f"{model.name}: {error}", code=error.code, param=error.param) from None
        chat.pop("model", None)
        if stream:
            chat["stream"] = True
        return self._dispatcher.chat_request(adapter, chat, model, breakpoints)

    async def create(
        self, route: Route, request: ResponsesRequest, *, cache_breakpoints: bool
    ) -> Answered[Reply]:
        upstream = self._dispatcher.upstream

        async def call(model: ModelConfig, adapter: Adapter) -> Reply:
            shell = request.shell(model.name)
            if self._native(model):
                sent = self._native_request(request, model, stream=False)
                data = await upstream.complete(model.provider, sent, adapter.error_message)
                if data.get("status") not in ANSWERED or not isinstance(data.get("output"), list):
                    status = data.get("status")
                    raise UpstreamFailure(
                        "protocol", f"{model.name} answered a {status} response", status=502
                    )
                return Reply(adopt(data, shell), usage_from_responses(data))
            sent = self._chat_request(request, adapter, model, stream=False, breakpoints=cache_breakpoints)
            data = await upstream.complete(model.provider, sent, adapter.error_message)
            completion, usage = adapter.chat_response(data, model)
            return Reply(ResponseBuilder(shell).completion(completion, usage), usage)

        return await self._dispatcher.first_success(route, call)

    async def open_stream(
        self, route: Route, request: ResponsesRequest, *, cache_breakpoints: bool
    ) -> Answered[ResponsesStream]:
        upstream = self._dispatcher.upstream
        created = int(time.time())

        async def call(model: ModelConfig, adapter: Adapter) -> ResponsesStream:
            shell = request.shell(model.name)
            if self._native(model):
                sent = self._native_request(request, model, stream=True)
                opened = await upstream.open_stream(model.provider, sent, adapter.error_message)
                return ResponsesStream(opened, shell, None)
            sent = self._chat_request(request, adapter, model, stream=True, breakpoints=cache_breakpoints)
            opened = await upstream.open_stream(model.provider, sent, adapter.error_message)
            translator = adapter.stream_translator(model, f"chatcmpl-{uuid.uuid4().hex}", created)
            return ResponsesStream(opened, shell, translator)

        return await self._dispatcher.first_success(route, call)
