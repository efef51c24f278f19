"""Reading a JSON request body within a size limit."""

import json
from typing import Any, NoReturn

from starlette.requests import Request

from origin.http.errors import ApiError, invalid_request


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not valid JSON")


def _is_json(content_type: str | None) -> bool:
    if not content_type:
        return True
    media = content_type.split(";", 1)[0].strip().lower()
    return media == "application/json" or media.endswith("+json")


async def read_limited(request: Request, limit: int) -> bytes:
    """The body, or a 413 as soon as it passes ``limit`` bytes (declared or actual)."""
    too_large = ApiError(
        413, f"The request body is larger than the {limit}-byte limit.", code="request_too_large"
    )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def read_json(request: Request, limit: int) -> Any:
    if not _is_json(request.headers.get("content-type")):
        raise ApiError(
            415,
            f"Unsupported content type {request.headers.get('content-type')!r}: send application/json.",
            code="unsupported_media_type",
        )
    raw = await read_limited(request, limit)
    if not raw.strip():
        raise invalid_request("The request body is empty: send a JSON object.", code="invalid_json")
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise invalid_request(
            "We could not parse the JSON body of your request. See https://platform.openai.com/docs/api-reference",
            code="invalid_json",
        ) from None
