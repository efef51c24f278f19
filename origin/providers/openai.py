"""OpenAI and every OpenAI-compatible API (vLLM, Ollama, Groq, Together, DeepSeek, ...)."""

import json
from typing import Any

from origin.providers.base import (
    JSON,
    ModelConfig,
    ProviderConfig,
    SSEEvent,
    UpstreamRequest,
    UpstreamStreamError,
    Usage,
)


def usage_from_openai(data: Any) -> Usage:
    if not isinstance(data, dict):
        return Usage()
    details = data.get("prompt_tokens_details") or {}
    return Usage(
        tokens_in=int(data.get("prompt_tokens") or 0),
        tokens_out=int(data.get("completion_tokens") or 0),
        tokens_cached_in=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
    )


class OpenAIStreamTranslator:
    def __init__(self, model: ModelConfig) -> None:
        self.model = model
        self.usage = Usage()
        self.finished = False

    def feed(self, event: SSEEvent) -> list[JSON]:
        if event.data.strip() == "[DONE]":
            self.finished = True
            return []
        chunk = json.loads(event.data)
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk:
            raise UpstreamStreamError(OpenAIAdapter().error_message(500, chunk))
        if chunk.get("usage"):
            self.usage = usage_from_openai(chunk["usage"])
        chunk["model"] = self.model.name
        return [chunk]


class OpenAIAdapter:
    def chat_request(self, body: JSON, model: ModelConfig, provider: ProviderConfig) -> UpstreamRequest:
        upstream = {**body, "model": model.upstream_model}
        if upstream.get("stream"):
            upstream["stream_options"] = {**(upstream.get("stream_options") or {}), "include_usage": True}
        headers = {"Content-Type": "application/json", **provider.headers}
        if provider.api_key:
            headers["Authorization"] = f"Bearer {provider.api_key}"
        return UpstreamRequest(path="/chat/completions", headers=headers, body=upstream)

    def chat_response(self, data: JSON, model: ModelConfig) -> tuple[JSON, Usage]:
        return {**data, "model": model.name}, usage_from_openai(data.get("usage"))

    def stream_translator(
        self, model: ModelConfig, completion_id: str, created: int
    ) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator(model)

    def error_message(self, status: int, data: Any) -> str:
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            message = data["error"].get("message")
            if isinstance(message, str) and message:
                return message[:300]
        return f"upstream answered HTTP {status}"
