"""Errors the edge answers itself, in the origin's shape (``shared.errors``): OpenAI's, or Anthropic's
under its API's path."""

from collections.abc import Mapping

from edge.runtime import Answer
from shared.errors import anthropic_error_body, error_body
from shared.replay import JSON_CONTENT_TYPE, json_bytes


def error_answer(
    status: int,
    message: str,
    *,
    code: str,
    param: str | None = None,
    headers: Mapping[str, str] | None = None,
    anthropic: bool = False,
) -> Answer:
    shaped = (
        anthropic_error_body(status, message, code) if anthropic else error_body(status, message, code, param)
    )
    body = json_bytes(shaped)
    return Answer(status, {"content-type": JSON_CONTENT_TYPE, **(headers or {})}, body)
