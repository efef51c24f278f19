"""A cheap token estimate (about four characters a token) for what upstreams did not report."""

import json
import math
from typing import Any

from shared.classify import message_text


def estimate_tokens(text: str) -> int:
    return math.ceil(len(text) / 4) if text else 0


def estimate_prompt_tokens(messages: list[Any], tools: Any = None) -> int:
    total = sum(estimate_tokens(message_text(message)) + 4 for message in messages)
    if tools:
        total += estimate_tokens(json.dumps(tools))
    return total
