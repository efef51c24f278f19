"""Sending a Messages request down the route: as it came to an Anthropic model, translated to others.

Retries, breakers and fallbacks are the chat dispatcher's (``Dispatcher.first_success``); a fallback
from an Anthropic model to an OpenAI one translates the same request.
"""

import time
from dataclasses import dataclass

from origin.chat.routing import Route
from origin.config import GatewayConfig
from origin.http.errors import ApiError
from origin.messages.from_chat import message_from_completion, message_id
from origin.messages.to_chat import chat_body
from origin.providers.anthropic import messages_request
from origin.providers.anthropic_answer import usage_from_anthropic
from origin.providers.base import JSON, Adapter, ModelConfig, RequestFieldError, StreamTranslator, Usage
from origin.providers.dispatch import Answered, Dispatcher
from origin.providers.upstream import UpstreamFailure, UpstreamStream

ANTHROPIC = "anthropic"
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"


@dataclass(frozen=True, slots=True)
class Wire:
    """What the client sent besides the body that an Anthropic upstream should see too."""

    version: str | None = None
    beta: str | None = None


@dataclass(slots=True)
class Reply:
    message: JSON
    usage: Usage


@dataclass(slots=True)
class MessagesStream:
    """``translator`` turns a non-Anthropic upstream's stream into chat chunks to translate; an
    Anthropic upstream's events (``translator`` None) go to the client as they came."""

    stream: UpstreamStream
    translator: StreamTranslator | None


class MessagesDispatch:
    def __init__(self, config: GatewayConfig, dispatcher: Dispatcher) -> None:
        self._config = config
        self._dispatcher = dispatcher

    def _native(self, model: ModelConfig) -> bool:
        return self._config.providers[model.provider].kind == ANTHROPIC

    def _translated(self, body: JSON, adapter: Adapter, model: ModelConfig, *, stream: bool) -> JSON:
        try:
            chat = chat_body(body, strict=True)
        except RequestFieldError as error:
            raise ApiError(400, f"{model.name}: {error}", code=error.code, param=error.param) from None
        chat.pop("model", None)
        return {**chat, "stream": True} if stream else chat

    async def create(self, route: Route, body: JSON, wire: Wire) -> Answered[Reply]:
        upstream = self._dispatcher.upstream

        async def call(model: ModelConfig, adapter: Adapter) -> Reply:
            if self._native(model):
                provider = self._config.providers[model.provider]
                request = messages_request(body, model, provider, version=wire.version, beta=wire.beta)
                data = await upstream.complete(model.provider, request, adapter.error_message)
                usage = usage_from_anthropic(data.get("usage"))
                usage.model_version = data["model"] if isinstance(data.get("model"), str) else None
                return Reply(data, usage)
            chat = self._translated(body, adapter, model, stream=False)
            request = self._dispatcher.chat_request(adapter, chat, model, False)
            data = await upstream.complete(model.provider, request, adapter.error_message)
            completion, usage = adapter.chat_response(data, model)
            return Reply(message_from_completion(completion, model.name, usage), usage)

        return await self._dispatcher.first_success(route, call)

    async def open_stream(self, route: Route, body: JSON, wire: Wire) -> Answered[MessagesStream]:
        upstream = self._dispatcher.upstream
        created = int(time.time())

        async def call(model: ModelConfig, adapter: Adapter) -> MessagesStream:
            if self._native(model):
                provider = self._config.providers[model.provider]
                native = {**body, "stream": True}
                request = messages_request(native, model, provider, version=wire.version, beta=wire.beta)
                opened = await upstream.open_stream(model.provider, request, adapter.error_message)
                return MessagesStream(opened, None)
            chat = self._translated(body, adapter, model, stream=True)
            request = self._dispatcher.chat_request(adapter, chat, model, False)
            opened = await upstream.open_stream(model.provider, request, adapter.error_message)
            return MessagesStream(opened, adapter.stream_translator(model, message_id(), created))

        return await self._dispatcher.first_success(route, call)

    async def count_tokens(self, route: Route, body: JSON, wire: Wire) -> int | None:
        """Anthropic's count when the route starts at an Anthropic model; ``None`` otherwise."""
        if not route.candidates or not self._native(route.candidates[0]):
            return None
        upstream = self._dispatcher.upstream

        async def call(model: ModelConfig, adapter: Adapter) -> int | None:
            if not self._native(model):
                return None
            provider = self._config.providers[model.provider]
            request = messages_request(
                body, model, provider, version=wire.version, beta=wire.beta, path=COUNT_TOKENS_PATH
            )
            data = await upstream.complete(model.provider, request, adapter.error_message)
            tokens = data.get("input_tokens")
            if not isinstance(tokens, int) or isinstance(tokens, bool):
                raise UpstreamFailure("protocol", f"{model.name} answered without input_tokens", status=502)
            return tokens

        return (await self._dispatcher.first_success(route, call)).result
