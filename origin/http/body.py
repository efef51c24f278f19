"""Reading a request body within a size limit, and as JSON (``shared.body`` judges the JSON)."""

from typing import Any, Final

from starlette.requests import Request

from origin.http.errors import ApiError, refused_body
from shared.body import is_json_content_type, parse_json_body
from shared.errors import InvalidBody

# Past the limit the rest of an upload is read and dropped, up to this much, so the client (still
# sending) reads the 413 instead of a reset connection; a larger upload is cut off.
DRAIN_BYTES: Final = 256 * 1024 * 1024


def too_large(limit: int) -> ApiError:
    return ApiError(413, f"The request body is larger than the {limit}-byte limit.", code="request_too_large")


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or a 413 as soon as it passes ``limit`` bytes (declared or actual)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    stream = request.stream()
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _drain(stream, size)
            raise too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def _drain(stream: Any, size: int) -> None:
    async for chunk in stream:
        size += len(chunk)
        if size > DRAIN_BYTES:
            return


async def read_json(request: Request, limit: int) -> Any:
    content_type = request.headers.get("content-type")
    if not is_json_content_type(content_type):
        raise ApiError(
            415,
            f"Unsupported content type {content_type!r}: send application/json.",
            code="unsupported_media_type",
        )
    raw = await read_limited(request, limit)
    try:
        return parse_json_body(raw)
    except InvalidBody as error:
        raise refused_body(error) from None
