"""Errors the edge answers itself, in the origin's shape (``shared.errors``)."""

from collections.abc import Mapping

from edge.runtime import Answer
from shared.errors import error_body
from shared.replay import JSON_CONTENT_TYPE, json_bytes


def error_answer(
    status: int,
    message: str,
    *,
    code: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> Answer:
    body = json_bytes(error_body(status, message, code, param))
    return Answer(status, {"content-type": JSON_CONTENT_TYPE, **(headers or {})}, body)
