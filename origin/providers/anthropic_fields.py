"""Every OpenAI chat-completions request field, as the Anthropic adapter treats it.

Each field is translated faithfully, ignored by design because it cannot change the answer, accepted
only at the value that changes nothing, or refused with a 400 naming it: never dropped silently.
``response_format`` becomes a forced tool call whose input is the answer (see ``RESPONSE_TOOL``).
"""

from collections.abc import Callable
from typing import Any, Final

from origin.providers.base import JSON, RequestFieldError

RESPONSE_TOOL: Final = "prism_response_format"
"""The tool that carries a ``response_format`` answer; a client tool may not take its name."""

ANTHROPIC_MAX_TEMPERATURE: Final = 1.0
# OpenAI's service tiers: ignored here, but a tier OpenAI does not offer is still the client's error.
SERVICE_TIERS: Final = ("auto", "default", "flex", "scale", "priority", "fast")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_str_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())


def wrong_type(param: str, expected: str) -> RequestFieldError:
    return RequestFieldError(param, f"'{param}' must be {expected}.", code="invalid_type")


def unsupported(param: str, why: str) -> RequestFieldError:
    return RequestFieldError(param, f"Anthropic models do not support '{param}': {why}.")


# Read and translated by the adapter (types checked where they are read).
TRANSLATED: Final = frozenset(
    {
        "model",
        "messages",
        "max_tokens",
        "max_completion_tokens",
        "temperature",
        "top_p",
        "stop",
        "stream",
        "n",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "response_format",
        "user",
    }
)

# They do not change the answer: ignored by design, but a wrong type is still the client's error.
IGNORED: Final[dict[str, tuple[Callable[[Any], bool], str]]] = {
    "metadata": (_is_str_map, "an object of strings"),
    "store": (lambda v: isinstance(v, bool), "a boolean"),
    "stream_options": (lambda v: isinstance(v, dict), "an object"),
    "prompt_cache_key": (lambda v: isinstance(v, str), "a string"),
    "prompt_cache_retention": (lambda v: isinstance(v, str), "a string"),
    "safety_identifier": (lambda v: isinstance(v, str), "a string"),
    "service_tier": (lambda v: v in SERVICE_TIERS, "one of " + ", ".join(SERVICE_TIERS)),
    "prediction": (
        lambda v: (
            isinstance(v, dict) and v.get("type") == "content" and isinstance(v.get("content"), (str, list))
        ),
        "an object of type 'content' with a 'content'",
    ),
}

# Accepted only at the value that changes nothing; any other well-typed value is unsupported.
NEUTRAL: Final[dict[str, tuple[Callable[[Any], bool], str, Callable[[Any], bool], str]]] = {
    "frequency_penalty": (_is_number, "a number", lambda v: v == 0, "it has no frequency penalty"),
    "presence_penalty": (_is_number, "a number", lambda v: v == 0, "it has no presence penalty"),
    "logprobs": (lambda v: isinstance(v, bool), "a boolean", lambda v: v is False, "no log probabilities"),
    "logit_bias": (
        lambda v: isinstance(v, dict) and all(_is_number(b) for b in v.values()),
        "an object of numbers",
        lambda v: not v,
        "no token biases",
    ),
    "modalities": (
        lambda v: isinstance(v, list) and all(isinstance(m, str) for m in v),
        "an array of strings",
        lambda v: set(v) <= {"text"},
        "text output only",
    ),
}

# No Anthropic equivalent at any value.
REFUSED: Final[dict[str, str]] = {
    "seed": "no deterministic sampling seed",
    "top_logprobs": "no log probabilities",
    "audio": "no audio output",
    "functions": "use 'tools' instead of the deprecated 'functions'",
    "function_call": "use 'tool_choice' instead of the deprecated 'function_call'",
    "reasoning_effort": "extended thinking is not translated",
    "verbosity": "no verbosity control",
    "web_search_options": "web search is not translated",
}


def check_fields(body: JSON) -> None:
    """Refuse what cannot be honoured; ``None`` always means the field was not given."""
    for name, value in body.items():
        if value is None or name in TRANSLATED:
            continue
        if name in IGNORED:
            ok, expected = IGNORED[name]
            if not ok(value):
                raise wrong_type(name, expected)
        elif name in NEUTRAL:
            ok, expected, harmless, why = NEUTRAL[name]
            if not ok(value):
                raise wrong_type(name, expected)
            if not harmless(value):
                raise unsupported(name, why)
        elif name in REFUSED:
            raise unsupported(name, REFUSED[name])
        else:
            raise RequestFieldError(name, f"Unrecognized request argument supplied: '{name}'.")


def sampling_fields(body: JSON) -> JSON:
    """``temperature``, ``top_p``, ``stream`` and ``user`` in Anthropic's terms."""
    translated: JSON = {}
    temperature = body.get("temperature")
    if temperature is not None:
        if not _is_number(temperature) or temperature < 0:
            raise wrong_type("temperature", "a number from 0 to 2")
        if temperature > ANTHROPIC_MAX_TEMPERATURE:
            raise unsupported("temperature", "its range is 0 to 1")
        translated["temperature"] = temperature
    top_p = body.get("top_p")
    if top_p is not None:
        if not _is_number(top_p) or not 0 <= top_p <= 1:
            raise wrong_type("top_p", "a number from 0 to 1")
        translated["top_p"] = top_p
    stream = body.get("stream")
    if stream is not None:
        if not isinstance(stream, bool):
            raise wrong_type("stream", "a boolean")
        translated["stream"] = stream
    user = body.get("user")
    if user is not None:
        if not isinstance(user, str):
            raise wrong_type("user", "a string")
        if user:
            translated["metadata"] = {"user_id": user}
    return translated


def max_tokens_of(body: JSON, default: int) -> int:
    for name in ("max_completion_tokens", "max_tokens"):
        value = body.get(name)
        if value is None:
            continue
        if not _is_int(value) or value < 1:
            raise wrong_type(name, "a positive integer")
        return int(value)
    return default


def require_one_choice(body: JSON) -> None:
    n = body.get("n")
    if n is None or n == 1:
        return
    if not _is_int(n):
        raise wrong_type("n", "an integer")
    raise unsupported("n", "they return one choice, so n must be 1")


def response_tool(response_format: Any, has_tools: bool) -> JSON | None:
    """The forced tool that makes the answer follow ``response_format`` (``None``: plain text)."""
    if response_format is None:
        return None
    if not isinstance(response_format, dict) or not isinstance(response_format.get("type"), str):
        raise wrong_type("response_format", "an object with a 'type'")
    kind = response_format["type"]
    if kind == "text":
        return None
    if kind == "json_object":
        schema: JSON = {"type": "object"}
        description = "Answer with a JSON object."
    elif kind == "json_schema":
        spec = response_format.get("json_schema")
        if not isinstance(spec, dict) or not isinstance(spec.get("name"), str):
            raise wrong_type("response_format", "a json_schema with a name")
        given = spec.get("schema", {"type": "object"})
        if not isinstance(given, dict):
            raise wrong_type("response_format", "a json_schema whose schema is an object")
        if given.get("type") != "object":
            raise unsupported("response_format", "the schema's root must be an object")
        schema = given
        description = f"Answer with a JSON object following the schema {spec['name']!r}."
        if isinstance(spec.get("description"), str) and spec["description"]:
            description += " " + spec["description"]
    else:
        raise wrong_type("response_format", "of type text, json_object or json_schema")
    if has_tools:
        raise unsupported("response_format", "a structured answer cannot be combined with tools")
    return {"name": RESPONSE_TOOL, "description": description, "input_schema": schema}
