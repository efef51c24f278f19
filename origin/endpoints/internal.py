"""``POST /internal/usage``: the edge hands over its cache-hit rows, HMAC-signed.

``accept_envelope`` is the one validation of an edge envelope ``{"key_hash", "row"}``; the dead-letter
sweeper (``origin.deadletters``) uses it too, after its own signature check.
"""

import json
import time
from typing import TYPE_CHECKING, Protocol

from starlette.requests import Request
from starlette.responses import JSONResponse

from origin.body import read_limited
from origin.errors import ApiError, invalid_request
from origin.stores.postgres import KeyRecord
from shared import headers as h
from shared.signing import verify
from shared.usage import UsageRow

if TYPE_CHECKING:  # origin.state builds the sweeper that imports this module: no import cycle
    from origin.state import AppState

MAX_INGEST_BYTES = 64 * 1024
EDGE_CACHE_STATUS = "hit-exact-edge"


class KeyLookup(Protocol):
    async def lookup(self, hashed: str) -> KeyRecord | None: ...


async def accept_envelope(keys: KeyLookup, raw: bytes) -> UsageRow:
    """The row of a valid envelope; ``ApiError`` 400 (malformed), 403 (not the key's) or 503 (no auth)."""
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
    key = await keys.lookup(envelope["key_hash"])
    if key is None or (key.key_id, key.project_id, key.org_id) != (row.key_id, row.project_id, row.org_id):
        raise ApiError(403, "The row does not belong to the key it names.", code="usage_key_mismatch")
    return row


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
    row = await accept_envelope(state.auth, raw)
    state.writer.submit(row)
    return JSONResponse({"accepted": True, "request_id": row.request_id}, status_code=202)
