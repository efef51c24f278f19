"""``POST /internal/usage``: the edge hands over its cache-hit rows, HMAC-signed."""

import json
import time

from starlette.requests import Request
from starlette.responses import JSONResponse

from origin.body import read_limited
from origin.errors import ApiError, invalid_request
from origin.state import AppState
from shared import headers as h
from shared.signing import verify
from shared.usage import UsageRow

MAX_INGEST_BYTES = 64 * 1024
EDGE_CACHE_STATUS = "hit-exact-edge"


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
        envelope = json.loads(raw)
        if not isinstance(envelope, dict) or not isinstance(envelope.get("key_hash"), str):
            raise ValueError('the body must be {"key_hash": ..., "row": {...}}')
        row = UsageRow.from_dict(envelope["row"] if isinstance(envelope.get("row"), dict) else {})
    except ValueError as error:
        raise invalid_request(f"Invalid usage row: {error}", code="invalid_usage_row") from None
    if row.cache_status != EDGE_CACHE_STATUS:
        raise invalid_request(
            f"Edge rows must have cache_status {EDGE_CACHE_STATUS!r}.", code="invalid_usage_row"
        )
    key = await state.auth.lookup(envelope["key_hash"])
    if key is None or (key.key_id, key.project_id, key.org_id) != (row.key_id, row.project_id, row.org_id):
        raise ApiError(403, "The row does not belong to the key it names.", code="usage_key_mismatch")
    state.writer.submit(row)
    return JSONResponse({"accepted": True, "request_id": row.request_id}, status_code=202)
