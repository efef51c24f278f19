"""``POST /internal/usage``: the edge hands over its rows, one envelope or a batch, HMAC-signed."""

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
    accept_envelopes,
)
from shared import headers as h
from shared.signing import verify

MAX_INGEST_BYTES = 1024 * 1024  # a batch of the edge's (edge.outbox: at most 256 KiB) with room


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
        rows = await accept_envelopes(state.auth, raw)
    except (EnvelopeKeyMismatch, EnvelopeKeyRevoked) as error:
        raise ApiError(403, str(error), code=error.code) from None
    except EnvelopeRejected as error:
        raise invalid_request(str(error), code=error.code) from None
    for row in rows:
        state.record(row)  # counted and logged like the origin's own rows
    accepted = [row.request_id for row in rows]
    return JSONResponse({"accepted": True, "request_ids": accepted}, status_code=202)
