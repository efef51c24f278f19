"""Errors the edge answers itself, in OpenAI's shape ``{"error": {"message", "type", "code", "param"}}``."""

import json
from collections.abc import Mapping
from typing import Final

from edge.runtime import Answer

JSON_TYPE: Final = "application/json"

# The same status → type table as the origin (origin/http/errors.py), for the statuses the edge produces.
_TYPES: Final = {400: "invalid_request_error", 401: "authentication_error", 502: "upstream_error"}


def json_bytes(payload: object) -> bytes:
    """Serialised as Starlette's JSONResponse does on the origin."""
    return json.dumps(payload, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def error_answer(
    status: int,
    message: str,
    *,
    code: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    error = {"message": message, "type": _TYPES.get(status, "api_error"), "code": code, "param": param}
    return Answer(status, {"content-type": JSON_TYPE, **(headers or {})}, json_bytes({"error": error}))
