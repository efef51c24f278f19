"""``POST /internal/usage``: the edge hands over its cache-hit rows, HMAC-signed."""

import time

from starlette.requests import Request

from origin.http.body import read_limited
from origin.http.errors import ApiError, invalid_request
from origin.http.responses import JSONResponse
from origin.state import AppState
from origin.usage.envelopes import (
    EnvelopeKeyMismatch,
    EnvelopeKeyRevoked,
    EnvelopeRejected,
    accept_envelope,
)
from shared import headers as h
from shared.signing import verify

MAX_INGEST_BYTES = 64 * 1024


async def ingest_usage(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    raw = await read_limited(request, MAX_INGEST_BYTES)
    signed = verify(
        raw,
        request.headers.get(h.INGEST_TIMESTAMP),
        request.headers.get(h.INGEST_SIGNATURE),
        state.settings.ingest_secret,
        now=time.time(),
    )
    if not signed:
        raise ApiError(401, "Missing, stale or invalid usage signature.", code="invalid_signature")
    try:
        row = await accept_envelope(state.auth, raw)
    except (EnvelopeKeyMismatch, EnvelopeKeyRevoked) as error:
        raise ApiError(403, str(error), code=error.code) from None
    except EnvelopeRejected as error:
        raise invalid_request(str(error), code=error.code) from None
    state.record(row)  # counted and logged like the origin's own rows
    return JSONResponse({"accepted": True, "request_id": row.request_id}, status_code=202)
