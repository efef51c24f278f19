"""Checks on an embeddings body (OpenAI's ``POST /v1/embeddings``), so bad input is a 400 naming the field."""

from typing import Any, Final

from shared.errors import InvalidBody

MAX_INPUTS: Final = 2048  # OpenAI's limit on the items of one request
ENCODINGS: Final = ("float", "base64")
TASK_TYPE: Final = "embedding"
# In the fingerprint, at the origin and at the edge alike: an embeddings answer is never a chat answer's.
FINGERPRINT_MODE: Final = "embeddings"


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _token_ids(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(_is_int(item) and item >= 0 for item in value)


def _valid_input(value: Any) -> bool:
    """A string, or a non-empty array of strings, of token ids, or of arrays of token ids."""
    if isinstance(value, str):
        return bool(value)
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_INPUTS:
        return False
    if all(isinstance(item, str) and item for item in value):
        return True
    return _token_ids(value) or all(_token_ids(item) for item in value)


def validate_embeddings_body(body: Any) -> dict[str, Any]:
    """The body itself when it is an embeddings request Prism can carry, else ``InvalidBody``."""
    if not isinstance(body, dict):
        raise InvalidBody("The request body must be a JSON object.", "invalid_body")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise InvalidBody("'model' must be a non-empty string.", "invalid_type", "model")
    if not _valid_input(body.get("input")):
        raise InvalidBody(
            f"'input' must be a non-empty string or an array of 1 to {MAX_INPUTS} non-empty strings"
            " or token arrays.",
            "invalid_type",
            "input",
        )
    dimensions = body.get("dimensions")
    if dimensions is not None and not (_is_int(dimensions) and dimensions > 0):
        raise InvalidBody("'dimensions' must be a positive integer.", "invalid_type", "dimensions")
    encoding = body.get("encoding_format")
    if encoding is not None and encoding not in ENCODINGS:
        message = "'encoding_format' must be 'float' or 'base64'."
        raise InvalidBody(message, "invalid_value", "encoding_format")
    user = body.get("user")
    if user is not None and not isinstance(user, str):
        raise InvalidBody("'user' must be a string.", "invalid_type", "user")
    return body


def input_texts(body: dict[str, Any]) -> list[str]:
    """The texts of an embeddings body (token arrays have none a detector could read)."""
    given = body["input"]
    items = [given] if isinstance(given, str) else given
    return [item for item in items if isinstance(item, str)]


def is_embeddings_answer(response: Any) -> bool:
    """An embeddings ``list`` as OpenAI answers it: each item an ``embedding`` with its index."""
    data = response.get("data") if isinstance(response, dict) else None
    return (
        isinstance(data, list)
        and bool(data)
        and all(
            isinstance(item, dict) and _is_int(item.get("index")) and "embedding" in item for item in data
        )
    )
