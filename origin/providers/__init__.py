"""The one registry of provider adapters: ``kind`` in the config → adapter."""

from typing import Final

from origin.providers.anthropic import AnthropicAdapter
from origin.providers.base import Adapter
from origin.providers.openai import OpenAIAdapter

ADAPTERS: Final[dict[str, Adapter]] = {
    "anthropic": AnthropicAdapter(),
    "openai": OpenAIAdapter(),
}


def adapter_for(kind: str) -> Adapter:
    try:
        return ADAPTERS[kind]
    except KeyError:
        raise ValueError(f"unknown provider kind {kind!r}; known: {', '.join(sorted(ADAPTERS))}") from None
