"""OpenAI-shaped errors, ``{"error": {"message", "type", "code", "param"}}``, and Anthropic's for its API."""

import logging
import traceback
from typing import Any, Final

from origin.http.responses import JSONResponse
from shared import headers as h
from shared.errors import InvalidBody, InvalidHeader, anthropic_error_body, error_body, error_type

log = logging.getLogger("prism.errors")
INTERNAL_MESSAGE: Final = "Prism hit an internal error; the request id identifies it."


class ApiError(Exception):
    """An error the client should see, with the status the official SDKs map correctly."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return error_type(self.status)

    def body(self) -> dict[str, Any]:
        return error_body(self.status, self.message, self.code, self.param)

    def response(self, extra_headers: dict[str, str] | None = None) -> JSONResponse:
        return JSONResponse(
            self.body(), status_code=self.status, headers={**self.headers, **(extra_headers or {})}
        )

    def anthropic_response(self, extra_headers: dict[str, str] | None = None) -> JSONResponse:
        """The same error as Anthropic's API words it (for ``/v1/messages``)."""
        headers = {**self.headers, **(extra_headers or {})}
        body = anthropic_error_body(self.status, self.message, self.code, headers.get(h.REQUEST_ID))
        return JSONResponse(body, status_code=self.status, headers=headers)


def invalid_request(message: str, *, code: str = "invalid_request", param: str | None = None) -> ApiError:
    return ApiError(400, message, code=code, param=param)


def refused_header(error: InvalidHeader) -> ApiError:
    return ApiError(400, str(error), code=error.code, param=error.header)


def refused_body(error: InvalidBody) -> ApiError:
    return ApiError(400, str(error), code=error.code, param=error.param)


def internal_error(error: BaseException, *, request_id: str | None = None) -> ApiError:
    """The one 500. The log gets the exception's type and its frames, never its message: messages
    can quote a prompt, a key or a body."""
    frames = [
        f"{frame.filename}:{frame.lineno} in {frame.name}"
        for frame in traceback.extract_tb(error.__traceback__)
    ]
    log.error(
        "internal error", extra={"request_id": request_id, "error": type(error).__name__, "traceback": frames}
    )
    return ApiError(500, INTERNAL_MESSAGE, code="internal_error")
