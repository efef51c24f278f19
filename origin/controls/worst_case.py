"""The most a request's input can cost in tokens: what a budget reservation holds before the answer.

An estimate (about four characters a token) is right on average and wrong at the edges: text in
CJK scripts, code or numbers takes more tokens a character, and what is not message text — tool
definitions, the arguments of earlier tool calls, tool results, images, injected memory — is input
too. A byte-level BPE tokenizer never makes more tokens than the text has UTF-8 bytes, so every
string the messages and tools carry counts a token a byte; an image counts what the dearest
provider charges for one at most, whatever its URL or data weighs.
"""

from collections.abc import Iterator, Mapping
from typing import Any, Final

# Anthropic caps an image at about 1.15 megapixels, about 1,600 tokens; OpenAI's high detail tops
# out lower (1,105 for gpt-4o). Audio and files are counted by their bytes, which is more.
IMAGE_TOKENS: Final = 1600
IMAGE_PARTS: Final = frozenset({"image_url", "image", "input_image"})
MESSAGE_TOKENS: Final = 4  # each message's role and separators
REPLY_TOKENS: Final = 3  # the reply's priming


def worst_input_tokens(body: Mapping[str, Any]) -> int:
    """An upper bound of the input tokens of a chat body (memory already in its messages)."""
    messages = body.get("messages") or []
    total = REPLY_TOKENS + MESSAGE_TOKENS * len(messages)
    for value in (*messages, body.get("tools"), body.get("response_format")):
        images, text = _weigh(value)
        total += images * IMAGE_TOKENS + text
    return total


def _weigh(value: Any) -> tuple[int, int]:
    """How many images ``value`` holds and the UTF-8 bytes of every other string in it."""
    images = text = 0
    for kind, size in _walk(value):
        images += kind == "image"
        text += size
    return images, text


def _walk(value: Any) -> Iterator[tuple[str, int]]:
    if isinstance(value, str):
        yield "text", len(value.encode("utf-8"))
    elif isinstance(value, Mapping):
        if value.get("type") in IMAGE_PARTS:
            yield "image", 0
            return
        for key, item in value.items():
            yield "text", len(str(key).encode("utf-8"))
            yield from _walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item)
    elif value is not None:
        yield "text", len(str(value))
