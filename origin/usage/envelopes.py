"""Edge usage envelopes ``{"key_hash", "row"}``, alone or batched as ``{"rows": [...]}``: the one
validation, for ``POST /internal/usage`` and the dead-letter sweeper alike. It raises domain errors;
the endpoint maps them to HTTP."""

from typing import Any, Protocol

import orjson

from origin.stores.postgres import KeyRecord
from origin.usage import edge_batch
from shared.usage import UsageRow

EDGE_CACHE_STATUS = "hit-exact-edge"


class KeyLookup(Protocol):
    async def lookup(self, hashed: str) -> KeyRecord | None: ...


class EnvelopeRejected(ValueError):
    """An envelope that can never be accepted (retrying cannot help); ``code`` says why."""

    code = "invalid_usage_row"


class EnvelopeKeyMismatch(EnvelopeRejected):
    """The row names another key, project or org than the key it was sent for."""

    code = "usage_key_mismatch"


class EnvelopeKeyRevoked(EnvelopeRejected):
    """The row was made after its key was revoked (or for a revoked key of unknown revocation time).

    A hit served before the revocation and delivered late (retries, the dead-letter sweep) is still
    accepted: the row's ``created_at``, stamped by the edge that served it, decides."""

    code = "usage_key_revoked"


async def accept_envelope(keys: KeyLookup, raw: bytes) -> UsageRow:
    """The row of a valid envelope. A key lookup that cannot be made raises what the lookup raises."""
    return await _vouched(keys, *_validated(_parsed(raw)))


async def accept_envelopes(keys: KeyLookup, raw: bytes) -> list[UsageRow]:
    """The rows of an envelope or of a batch ``{"rows": [envelope, ...]}``, all or none: one row that
    can never be accepted refuses the batch (the edge then sends its rows one by one)."""
    decoded = edge_batch.decoded(raw)
    if decoded is None:  # not plainly a valid batch: a single envelope, or an error to name
        parsed = _parsed(raw)
        if "rows" not in parsed:
            return [await _vouched(keys, *_validated(parsed))]
        decoded = _validated_batch(parsed["rows"])
    seen, rows = _SeenKeys(keys), []
    for index, (key_hash, row) in enumerate(decoded):
        try:
            rows.append(await _vouched(seen, key_hash, row))
        except EnvelopeRejected as error:
            raise _in_batch(index, error) from None
    return rows


def _validated_batch(batch: Any) -> list[tuple[str, UsageRow]]:
    if not isinstance(batch, list) or not batch or not all(isinstance(item, dict) for item in batch):
        raise EnvelopeRejected('Invalid usage batch: the body must be {"rows": [envelope, ...]}.')
    decoded = []
    for index, envelope in enumerate(batch):
        try:
            decoded.append(_validated(envelope))
        except EnvelopeRejected as error:
            raise _in_batch(index, error) from None
    return decoded


def _in_batch(index: int, error: EnvelopeRejected) -> EnvelopeRejected:
    return type(error)(f"Row {index} of the batch: {error}")


class _SeenKeys:
    """A batch's rows share a few keys: each is looked up once."""

    def __init__(self, keys: KeyLookup) -> None:
        self._keys = keys
        self._seen: dict[str, KeyRecord | None] = {}

    async def lookup(self, hashed: str) -> KeyRecord | None:
        if hashed not in self._seen:
            self._seen[hashed] = await self._keys.lookup(hashed)
        return self._seen[hashed]


def _parsed(raw: bytes) -> dict[str, Any]:
    try:
        parsed = orjson.loads(raw)  # a batch of a hundred rows: a third of the standard library's time
    except ValueError as error:
        raise EnvelopeRejected(f"Invalid usage row: {error}") from None
    if not isinstance(parsed, dict):
        raise EnvelopeRejected('Invalid usage row: the body must be {"key_hash": ..., "row": {...}}')
    return parsed


def _validated(envelope: dict[str, Any]) -> tuple[str, UsageRow]:
    try:
        if not isinstance(envelope.get("key_hash"), str):
            raise ValueError('the body must be {"key_hash": ..., "row": {...}}')
        row = UsageRow.from_dict(envelope["row"] if isinstance(envelope.get("row"), dict) else {})
    except ValueError as error:
        raise EnvelopeRejected(f"Invalid usage row: {error}") from None
    return envelope["key_hash"], row


async def _vouched(keys: KeyLookup, key_hash: str, row: UsageRow) -> UsageRow:
    if row.cache_status != EDGE_CACHE_STATUS:
        raise EnvelopeRejected(f"Edge rows must have cache_status {EDGE_CACHE_STATUS!r}.")
    key = await keys.lookup(key_hash)
    if key is None or (key.key_id, key.project_id, key.org_id) != (row.key_id, row.project_id, row.org_id):
        raise EnvelopeKeyMismatch("The row does not belong to the key it names.")
    if not key.active and (key.revoked_at is None or row.created_at.timestamp() > key.revoked_at):
        raise EnvelopeKeyRevoked("The row was made after its key was revoked.")
    return row
