"""Errors both tiers answer with, in OpenAI's shape ``{"error": {"message", "type", "code", "param"}}``."""

from typing import Any, Final

# The status → ``error.type`` table; statuses not listed are ``api_error``.
ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_error",
    500: "api_error",
    502: "upstream_error",
    503: "service_unavailable",
    504: "timeout_error",
}


def error_type(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error")


def error_body(status: int, message: str, code: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type(status), "code": code, "param": param}}


class InvalidHeader(ValueError):
    """A request header that must not be silently dropped is malformed.

    ``code`` is the OpenAI-style error code both tiers answer with (status 400).
    """

    def __init__(self, header: str, message: str, code: str) -> None:
        super().__init__(message)
        self.header = header
        self.code = code


class InvalidBody(ValueError):
    """A request body both tiers refuse with a 400: ``code`` and ``param`` as the client sees them."""

    def __init__(self, message: str, code: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.param = param


ANTHROPIC_API: Final = "/v1/messages"  # and what is below it: errors there are in Anthropic's shape


def speaks_anthropic(path: str) -> bool:
    return path == ANTHROPIC_API or path.startswith(ANTHROPIC_API + "/")


# Anthropic's ``error.type`` by status (its SDK picks the exception by status; the type names it).
ANTHROPIC_ERROR_TYPES: Final = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    415: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
    504: "timeout_error",
    529: "overloaded_error",
}


def anthropic_error_body(
    status: int, message: str, code: str, request_id: str | None = None
) -> dict[str, Any]:
    """Anthropic's shape, ``{"type": "error", "error": {"type", "message"}}``, with Prism's ``code``."""
    kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": message, "code": code}}
    if request_id is not None:
        body["request_id"] = request_id
    return body
