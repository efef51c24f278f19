"""OpenAI and every OpenAI-compatible API (vLLM, Ollama, Groq, Together, DeepSeek, ...)."""

import math
from typing import Any, Final

import orjson

from origin.providers.base import (
    JSON,
    RETRYABLE_STATUSES,
    ModelConfig,
    ProviderConfig,
    SSEEvent,
    UpstreamRequest,
    UpstreamStreamError,
    Usage,
)


def answering_version(data: JSON) -> str | None:
    """The backend that answered: ``system_fingerprint``, else the dated model the upstream names."""
    version = data.get("system_fingerprint") or data.get("model")
    return version if isinstance(version, str) else None


def _headers(provider: ProviderConfig) -> dict[str, str]:
    headers = {"Content-Type": "application/json", **provider.headers}
    if provider.api_key:
        headers["Authorization"] = f"Bearer {provider.api_key}"
    return headers


def responses_request(body: JSON, model: ModelConfig, provider: ProviderConfig) -> UpstreamRequest:
    """A Responses request (already in the upstream's terms but for the model) to ``/responses``."""
    return UpstreamRequest(
        path="/responses", headers=_headers(provider), body={**body, "model": model.upstream_model}
    )


def usage_from_responses(data: Any) -> Usage:
    """A Responses object's ``usage``, and the dated model that answered."""
    if not isinstance(data, dict):
        return Usage()
    usage = data.get("usage")
    counts = usage if isinstance(usage, dict) else {}
    details = counts.get("input_tokens_details")
    return Usage(
        tokens_in=int(counts.get("input_tokens") or 0),
        tokens_out=int(counts.get("output_tokens") or 0),
        tokens_cached_in=int(details.get("cached_tokens") or 0) if isinstance(details, dict) else 0,
        model_version=data["model"] if isinstance(data.get("model"), str) else None,
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
        chunk = orjson.loads(event.data)
        if not isinstance(chunk, dict):
            return []
        if "error" in chunk:
            raise UpstreamStreamError(OpenAIAdapter().error_message(500, chunk))
        if chunk.get("usage"):
            self.usage = usage_from_openai(chunk["usage"])
        self.usage.model_version = answering_version(chunk) or self.usage.model_version
        chunk["model"] = self.model.name
        return [chunk]


def _vector(item: Any) -> list[float]:
    if not isinstance(item, list) or not item:
        raise ValueError("missing embedding")
    if not all(isinstance(value, (int, float)) and not isinstance(value, bool) for value in item):
        raise ValueError("non-numeric embedding")
    values = [float(value) for value in item]
    if not all(math.isfinite(value) for value in values):
        raise ValueError("non-finite embedding")
    return values


def _with_refusal(choice: Any) -> Any:
    """OpenAI's schema requires ``message.refusal``; compatible servers often leave it out."""
    if isinstance(choice, dict) and isinstance(choice.get("message"), dict):
        return {**choice, "message": {"refusal": None, **choice["message"]}}
    return choice


class OpenAIAdapter:
    retryable_statuses: Final = RETRYABLE_STATUSES

    def chat_request(
        self, body: JSON, model: ModelConfig, provider: ProviderConfig, *, cache_breakpoints: bool = False
    ) -> UpstreamRequest:
        upstream = {**body, "model": model.upstream_model}
        if upstream.get("stream"):
            upstream["stream_options"] = {**(upstream.get("stream_options") or {}), "include_usage": True}
        return UpstreamRequest(path="/chat/completions", headers=_headers(provider), body=upstream)

    def chat_response(self, data: JSON, model: ModelConfig) -> tuple[JSON, Usage]:
        response = {**data, "model": model.name}
        if isinstance(data.get("choices"), list):
            response["choices"] = [_with_refusal(choice) for choice in data["choices"]]
        usage = usage_from_openai(data.get("usage"))
        usage.model_version = answering_version(data)
        return response, usage

    def stream_translator(
        self, model: ModelConfig, completion_id: str, created: int
    ) -> OpenAIStreamTranslator:
        return OpenAIStreamTranslator(model)

    def embeddings_request(
        self,
        text: str | list[Any],
        model: str,
        provider: ProviderConfig,
        *,
        dimensions: int | None = None,
        encoding_format: str = "float",
    ) -> UpstreamRequest:
        body: JSON = {"model": model, "input": text, "encoding_format": encoding_format}
        if dimensions is not None:
            body["dimensions"] = dimensions
        return UpstreamRequest(path="/embeddings", headers=_headers(provider), body=body)

    def embeddings_response(self, data: JSON) -> list[float]:
        items = data.get("data")
        if not isinstance(items, list) or not items or not isinstance(items[0], dict):
            raise ValueError("missing embedding")
        return _vector(items[0].get("embedding"))

    def error_message(self, status: int, data: Any) -> str:
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            message = data["error"].get("message")
            if isinstance(message, str) and message:
                return message[:300]
        return f"upstream answered HTTP {status}"
