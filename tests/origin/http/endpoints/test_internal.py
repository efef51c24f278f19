"""``POST /internal/usage``: signed, validated, idempotent edge rows."""

import json
import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest

from edge.outbox import MAX_BYTES, MAX_ROWS
from origin.http.endpoints.internal import MAX_INGEST_BYTES
from origin.stores import postgres
from shared import headers as h
from shared.keys import key_hash
from shared.signing import sign
from shared.usage import UsageRow
from tests.harness import RunningOrigin
from tests.origin.helpers import edge_usage_row, usage_rows


async def _send(
    origin: RunningOrigin, body: bytes, *, secret: str | None = None, stamp: int | None = None
) -> tuple[int, Any]:
    stamp = int(time.time()) if stamp is None else stamp
    signature = sign(body, stamp, secret or origin.state.settings.ingest_secret)
    headers = {
        h.INGEST_TIMESTAMP: str(stamp),
        h.INGEST_SIGNATURE: signature,
        "Content-Type": "application/json",
    }
    async with aiohttp.ClientSession() as session:
        async with session.post(origin.url + "/internal/usage", data=body, headers=headers) as response:
            return response.status, await response.json()


@pytest.fixture
async def edge_key(origin: RunningOrigin, pool: postgres.Pool) -> tuple[str, postgres.KeyRecord]:
    key, record = await postgres.create_key(
        pool, project="edge-proj", org="tests", pepper=origin.state.settings.key_pepper
    )
    return key_hash(key, origin.state.settings.key_pepper), record


async def test_signed_row_is_stored_once(
    origin: RunningOrigin, pool: postgres.Pool, edge_key: tuple[str, postgres.KeyRecord]
) -> None:
    hashed, record = edge_key
    row = edge_usage_row(record)
    body = json.dumps({"key_hash": hashed, "row": json.loads(row.to_wire())}).encode()
    for _ in range(3):  # the edge retries: delivery is idempotent on request_id
        status, answer = await _send(origin, body)
        assert (status, answer["request_ids"]) == (202, [row.request_id])
    stored = await usage_rows(origin, pool, row.request_id)
    assert len(stored) == 1
    assert stored[0]["edge_region"] == "SIN" and stored[0]["cache_status"] == "hit-exact-edge"
    assert float(stored[0]["cache_saved_cents"]) == 0.0042 and stored[0]["session_id"] == "edge-session"


def _requests_counted(metrics_text: str, model: str) -> float:
    prefix = f'prism_requests_total{{model="{model}",status="200"}} '
    lines = [line for line in metrics_text.splitlines() if line.startswith(prefix)]
    return float(lines[0][len(prefix) :]) if lines else 0.0


async def _metrics(origin: RunningOrigin) -> str:
    async with aiohttp.ClientSession() as session:
        async with session.get(origin.url + "/metrics") as response:
            return await response.text()


async def test_an_edge_row_is_counted_and_logged_like_an_origin_row(
    origin: RunningOrigin,
    edge_key: tuple[str, postgres.KeyRecord],
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(logging.getLogger("prism"), "propagate", True)  # the app's logging turns it off
    caplog.set_level(logging.INFO, logger="prism.access")
    hashed, record = edge_key
    row = edge_usage_row(record, model_used="edge-counted-model")
    before = _requests_counted(await _metrics(origin), "edge-counted-model")
    status, _ = await _send(
        origin, json.dumps({"key_hash": hashed, "row": json.loads(row.to_wire())}).encode()
    )
    assert status == 202
    assert _requests_counted(await _metrics(origin), "edge-counted-model") == before + 1
    logged = {
        (entry.name, getattr(entry, "cache", None), getattr(entry, "status", None))
        for entry in caplog.records
        if getattr(entry, "request_id", None) == row.request_id
    }
    assert logged == {("prism.access", "hit-exact-edge", 200)}


async def test_forged_calls_are_refused(
    origin: RunningOrigin, pool: postgres.Pool, edge_key: tuple[str, postgres.KeyRecord]
) -> None:
    hashed, record = edge_key
    row = edge_usage_row(record)
    good = json.dumps({"key_hash": hashed, "row": json.loads(row.to_wire())}).encode()
    other_key, other = await postgres.create_key(
        pool, project="other-proj", org="tests", pepper=origin.state.settings.key_pepper
    )
    cases = [
        (await _send(origin, good, secret="wrong-secret-0123456789"), 401, "invalid_signature"),
        (await _send(origin, good, stamp=int(time.time()) - 600), 401, "invalid_signature"),
        (await _send(origin, b"{not json"), 400, "invalid_usage_row"),
        (
            await _send(origin, json.dumps({"key_hash": hashed, "row": {"org_id": 1}}).encode()),
            400,
            "invalid_usage_row",
        ),
        (
            await _send(
                origin,
                json.dumps(
                    {
                        "key_hash": hashed,
                        "row": json.loads(edge_usage_row(record, cache_status="miss").to_wire()),
                    }
                ).encode(),
            ),
            400,
            "invalid_usage_row",
        ),
        (
            await _send(
                origin,
                json.dumps(
                    {
                        "key_hash": key_hash(other_key, origin.state.settings.key_pepper),
                        "row": json.loads(row.to_wire()),
                    }
                ).encode(),
            ),
            403,
            "usage_key_mismatch",
        ),
        (
            await _send(
                origin, json.dumps({"key_hash": "0" * 64, "row": json.loads(row.to_wire())}).encode()
            ),
            403,
            "usage_key_mismatch",
        ),
    ]
    for (status, body), expected_status, code in cases:
        assert (status, body["error"]["code"]) == (expected_status, code)
    assert other.project_id != record.project_id
    assert await usage_rows(origin, pool, row.request_id) == []


def _envelope(hashed: str, row: UsageRow) -> bytes:
    return json.dumps({"key_hash": hashed, "row": json.loads(row.to_wire())}).encode()


async def _revoked_at(pool: postgres.Pool, record: postgres.KeyRecord) -> datetime:
    await postgres.revoke_keys(pool, record.prefix)
    revoked = await pool.fetchval("SELECT revoked_at FROM api_keys WHERE id = $1", record.key_id)
    assert isinstance(revoked, datetime)
    return revoked


async def test_rows_made_after_the_revocation_are_refused(
    origin: RunningOrigin, pool: postgres.Pool, edge_key: tuple[str, postgres.KeyRecord]
) -> None:
    hashed, record = edge_key
    revoked = await _revoked_at(pool, record)
    # Served at the edge just before the revocation, delivered after it (retries): still usage.
    served = edge_usage_row(record, created_at=revoked - timedelta(seconds=1))
    late = edge_usage_row(record, created_at=revoked + timedelta(seconds=1))
    status, answer = await _send(origin, _envelope(hashed, served))
    assert (status, answer["request_ids"]) == (202, [served.request_id])
    status, answer = await _send(origin, _envelope(hashed, late))
    assert (status, answer["error"]["code"]) == (403, "usage_key_revoked")
    assert len(await usage_rows(origin, pool, served.request_id)) == 1
    assert await usage_rows(origin, pool, late.request_id) == []


async def test_rows_of_a_revoked_key_without_a_revocation_time_are_refused(
    origin: RunningOrigin, pool: postgres.Pool, edge_key: tuple[str, postgres.KeyRecord]
) -> None:
    hashed, record = edge_key
    await pool.execute("UPDATE api_keys SET status = 'revoked' WHERE id = $1", record.key_id)
    row = edge_usage_row(record, created_at=datetime.now(UTC) - timedelta(days=1))
    status, answer = await _send(origin, _envelope(hashed, row))
    assert (status, answer["error"]["code"]) == (403, "usage_key_revoked")
    assert await usage_rows(origin, pool, row.request_id) == []


def _batch(hashed: str, rows: list[UsageRow]) -> bytes:
    return json.dumps({"rows": [json.loads(_envelope(hashed, row)) for row in rows]}).encode()


async def test_a_batch_is_stored_row_by_row_once(
    origin: RunningOrigin, pool: postgres.Pool, edge_key: tuple[str, postgres.KeyRecord]
) -> None:
    hashed, record = edge_key
    rows = [edge_usage_row(record, session_id=f"batch-{index}") for index in range(5)]
    for _ in range(2):  # a batch retried after a lost answer is still one row each
        status, answer = await _send(origin, _batch(hashed, rows))
        assert (status, answer["request_ids"]) == (202, [row.request_id for row in rows])
    for row in rows:
        [stored] = await usage_rows(origin, pool, row.request_id)
        assert stored["session_id"] == row.session_id and stored["cache_status"] == "hit-exact-edge"


async def test_a_batch_with_a_row_that_can_never_be_accepted_is_refused_whole(
    origin: RunningOrigin, pool: postgres.Pool, edge_key: tuple[str, postgres.KeyRecord]
) -> None:
    hashed, record = edge_key
    good, wrong = edge_usage_row(record), edge_usage_row(record, cache_status="miss")
    status, answer = await _send(origin, _batch(hashed, [good, wrong]))
    assert (status, answer["error"]["code"]) == (400, "invalid_usage_row")
    assert answer["error"]["message"].startswith("Row 1 of the batch: ")
    _, other = await postgres.create_key(pool, project="batch-other", org="tests", pepper="x" * 32)
    foreign = edge_usage_row(other)
    status, answer = await _send(origin, _batch(hashed, [good, foreign]))
    assert (status, answer["error"]["code"]) == (403, "usage_key_mismatch")
    assert await usage_rows(origin, pool, good.request_id) == []  # the edge sends each row again alone
    odd = {**json.loads(good.to_wire()), "cache_status": ["hit-exact-edge"]}  # unhashable: was a 500
    malformed: list[dict[str, Any]] = [
        {"rows": []},
        {"rows": "all of them"},
        {"rows": [1, 2]},
        {"rows": [{"key_hash": hashed, "row": odd}]},
        {"key_hash": hashed, "row": odd},
    ]
    for body in malformed:
        status, answer = await _send(origin, json.dumps(body).encode())
        assert (status, answer["error"]["code"]) == (400, "invalid_usage_row")


async def test_the_ingest_limit_fits_the_edges_largest_batch(
    origin: RunningOrigin, edge_key: tuple[str, postgres.KeyRecord]
) -> None:
    hashed, record = edge_key
    rows = [edge_usage_row(record) for _ in range(MAX_ROWS)]
    body = _batch(hashed, rows)
    assert len(body) < MAX_BYTES  # a full batch by count is well inside the byte cap
    status, answer = await _send(origin, body)
    assert (status, len(answer["request_ids"])) == (202, MAX_ROWS)
    status, answer = await _send(origin, b'{"rows":[' + b" " * MAX_INGEST_BYTES + b"]}")
    assert status == 413
