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
