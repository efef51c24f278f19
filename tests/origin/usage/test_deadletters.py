"""Dead letters in (fake) Workers KV end up as exactly one usage row each, on real Postgres and Redis."""

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import redis.asyncio as redis

from origin.config import Retries
from origin.controls.auth import Authenticator
from origin.settings import Settings
from origin.stores import postgres
from origin.stores.kv import KVPublisher
from origin.usage.deadletters import (
    REJECTED_PREFIX,
    DeadLetterSweeper,
    envelope_ingest,
)
from origin.usage.spool import Spool
from origin.usage.writer import UsageWriter
from shared.edgekv import dead_letter_name, open_dead_letter, seal_dead_letter
from shared.keys import key_hash
from shared.usage import UsageRow
from tests.fakes.cloudflare_api import DEFAULT_ACCOUNT, DEFAULT_NAMESPACE, DEFAULT_TOKEN, FakeCloudflare
from tests.origin.helpers import edge_usage_row

AN_HOUR_AGO = int(time.time()) - 3600  # far outside the endpoint's five-minute window

EdgeKey = tuple[str, postgres.KeyRecord]


@pytest.fixture
async def fake() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare() as running:
        yield running


@pytest.fixture
async def kv(fake: FakeCloudflare) -> AsyncIterator[KVPublisher]:
    settings = replace(
        Settings(),
        cf_api_token=DEFAULT_TOKEN,
        cf_account_id=DEFAULT_ACCOUNT,
        cf_kv_namespace_id=DEFAULT_NAMESPACE,
        cf_api_base_url=fake.base_url,
    )
    publisher = KVPublisher.from_settings(settings, retries=Retries(attempts=1))
    publisher.start()
    yield publisher
    await publisher.stop()


@pytest.fixture
async def writer(pool: postgres.Pool, tmp_path: Path) -> AsyncIterator[UsageWriter]:
    spool = Spool(tmp_path / "spool")
    usage = UsageWriter(pool, spool)
    await usage.start()
    yield usage
    await usage.stop()
    spool.close()


@pytest.fixture
def auth(pool: postgres.Pool, redis_client: "redis.Redis", base_settings: Settings) -> Authenticator:
    return Authenticator(pool, redis_client, pepper=base_settings.key_pepper, cache_seconds=4.0)


@pytest.fixture
async def edge_key(pool: postgres.Pool, base_settings: Settings) -> EdgeKey:
    key, record = await postgres.create_key(
        pool, project="dead-letters", org="tests", pepper=base_settings.key_pepper
    )
    return key_hash(key, base_settings.key_pepper), record


@pytest.fixture
def sweeper(
    kv: KVPublisher, auth: Authenticator, writer: UsageWriter, base_settings: Settings
) -> DeadLetterSweeper:
    ingest = envelope_ingest(auth, writer.submit, base_settings.ingest_secret)
    return DeadLetterSweeper(kv, ingest, interval=0.05, durable=writer.flush)


@pytest.fixture
def sweep_log(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> pytest.LogCaptureFixture:
    monkeypatch.setattr(logging.getLogger("prism"), "propagate", True)
    caplog.set_level(logging.INFO, logger="prism.deadletters")
    return caplog


def edge_row(record: postgres.KeyRecord, **changes: Any) -> UsageRow:
    attribution: dict[str, Any] = {
        "session_id": "dead-letter-session",
        "request_tags": {"feature": "dead-letter"},
    }
    return edge_usage_row(record, **(attribution | changes))


def edge_letter(hashed: str, row: UsageRow | dict[str, Any], secret: str, stamp: int = AN_HOUR_AGO) -> str:
    """What the edge writes: the envelope it would have POSTed, with that POST's signature."""
    wire = json.loads(row.to_wire()) if isinstance(row, UsageRow) else row
    body = json.dumps({"key_hash": hashed, "row": wire}, separators=(",", ":")).encode()
    return seal_dead_letter(body, stamp, secret)


async def edge_writes(fake: FakeCloudflare, name: str, value: str) -> None:
    """A raw-body PUT, as the local edge writes its dead letters."""
    url = (
        f"{fake.base_url}/accounts/{fake.account_id}/storage/kv/namespaces/{fake.namespace_id}/values/{name}"
    )
    headers = {"Authorization": f"Bearer {fake.token}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as http:
        async with http.put(url, data=value.encode(), headers=headers) as response:
            assert response.status == 200


async def stored(pool: postgres.Pool, writer: UsageWriter, request_id: str) -> list[dict[str, Any]]:
    await writer.flush()
    return [dict(r) for r in await pool.fetch("SELECT * FROM usage_logs WHERE request_id = $1", request_id)]


async def test_a_dead_letter_becomes_exactly_one_row(
    fake: FakeCloudflare,
    sweeper: DeadLetterSweeper,
    pool: postgres.Pool,
    writer: UsageWriter,
    edge_key: EdgeKey,
    base_settings: Settings,
) -> None:
    hashed, record = edge_key
    row = edge_row(record)
    name = dead_letter_name(row.request_id)
    await edge_writes(fake, name, edge_letter(hashed, row, base_settings.ingest_secret))

    assert await sweeper.sweep_once() == 1
    rows = await stored(pool, writer, row.request_id)
    assert len(rows) == 1
    assert (rows[0]["cache_status"], rows[0]["edge_region"], rows[0]["session_id"]) == (
        "hit-exact-edge",
        "SIN",
        "dead-letter-session",
    )
    assert float(rows[0]["cache_saved_cents"]) == 0.0042
    assert name not in fake.values

    assert await sweeper.sweep_once() == 0  # nothing left
    # The same letter again (another instance's copy, a listing lagging the delete): still one row.
    await edge_writes(
        fake, name, edge_letter(hashed, row, base_settings.ingest_secret, stamp=AN_HOUR_AGO + 5)
    )
    assert await sweeper.sweep_once() == 1
    assert len(await stored(pool, writer, row.request_id)) == 1
    assert fake.values == {}


async def test_invalid_letters_are_set_aside_and_do_not_block_the_others(
    fake: FakeCloudflare,
    sweeper: DeadLetterSweeper,
    pool: postgres.Pool,
    writer: UsageWriter,
    edge_key: EdgeKey,
    base_settings: Settings,
    sweep_log: pytest.LogCaptureFixture,
) -> None:
    hashed, record = edge_key
    secret = base_settings.ingest_secret
    good = [edge_row(record) for _ in range(2)]
    bad = {row.request_id: value for row, value in _bad_letters(hashed, record, secret)}
    for name, value in [
        *((dead_letter_name(row.request_id), edge_letter(hashed, row, secret)) for row in good),
        *((dead_letter_name(request_id), value) for request_id, value in bad.items()),
    ]:
        fake.put(name, value)

    assert await sweeper.sweep_once() == 2
    for row in good:
        assert len(await stored(pool, writer, row.request_id)) == 1
    for request_id in bad:
        assert await stored(pool, writer, request_id) == []
    assert set(fake.values) == {REJECTED_PREFIX + request_id for request_id in bad}
    for request_id, value in bad.items():
        kept = fake.entry(REJECTED_PREFIX + request_id)
        assert kept is not None and kept.value == value.encode() and kept.expiration is not None
    warnings = [r.getMessage() for r in sweep_log.records if r.levelno == logging.WARNING]
    assert len(warnings) == len(bad) and all(any(rid in w for w in warnings) for rid in bad)
    assert hashed not in sweep_log.text and "dead-letter-session" not in sweep_log.text


def _bad_letters(hashed: str, record: postgres.KeyRecord, secret: str) -> list[tuple[UsageRow, str]]:
    forged, malformed, stranger = (edge_row(record) for _ in range(3))
    misplaced = edge_row(record, cache_status="miss")
    wire = json.loads(malformed.to_wire()) | {"tokens_in": -1}
    return [
        (edge_row(record), "{not json"),
        (forged, edge_letter(hashed, forged, "not-the-ingest-secret-0123")),
        (malformed, edge_letter(hashed, wire, secret)),
        (stranger, edge_letter("0" * 64, stranger, secret)),  # no such key
        (misplaced, edge_letter(hashed, misplaced, secret)),
    ]


async def test_a_letter_made_after_its_key_was_revoked_is_set_aside(
    fake: FakeCloudflare,
    sweeper: DeadLetterSweeper,
    pool: postgres.Pool,
    writer: UsageWriter,
    edge_key: EdgeKey,
    base_settings: Settings,
) -> None:
    hashed, record = edge_key
    await postgres.revoke_keys(pool, record.prefix)
    revoked = await pool.fetchval("SELECT revoked_at FROM api_keys WHERE id = $1", record.key_id)
    served = edge_row(record, created_at=revoked - timedelta(seconds=1))
    late = edge_row(record, created_at=revoked + timedelta(seconds=1))
    for row in (served, late):
        fake.put(dead_letter_name(row.request_id), edge_letter(hashed, row, base_settings.ingest_secret))

    assert await sweeper.sweep_once() == 1
    assert len(await stored(pool, writer, served.request_id)) == 1
    assert await stored(pool, writer, late.request_id) == []
    assert set(fake.values) == {REJECTED_PREFIX + late.request_id}


async def test_a_transient_failure_leaves_the_letter_for_the_next_sweep(
    fake: FakeCloudflare,
    kv: KVPublisher,
    auth: Authenticator,
    writer: UsageWriter,
    pool: postgres.Pool,
    edge_key: EdgeKey,
    base_settings: Settings,
) -> None:
    hashed, record = edge_key
    flaky, steady = edge_row(record), edge_row(record)
    real = envelope_ingest(auth, writer.submit, base_settings.ingest_secret)
    failing = {flaky.request_id}

    async def ingest(raw: bytes) -> None:
        body = json.loads(open_dead_letter(raw, base_settings.ingest_secret))
        if body["row"]["request_id"] in failing:
            raise ConnectionError("postgres is restarting")
        await real(raw)

    sweeper = DeadLetterSweeper(kv, ingest, interval=0.05, durable=writer.flush)
    for row in (flaky, steady):
        fake.put(dead_letter_name(row.request_id), edge_letter(hashed, row, base_settings.ingest_secret))
    assert await sweeper.sweep_once() == 1
    assert set(fake.values) == {dead_letter_name(flaky.request_id)}
    failing.clear()
    assert await sweeper.sweep_once() == 1
    assert fake.values == {}
    assert len(await stored(pool, writer, flaky.request_id)) == 1


async def test_nothing_is_deleted_before_the_rows_are_durable(
    fake: FakeCloudflare,
    kv: KVPublisher,
    auth: Authenticator,
    writer: UsageWriter,
    edge_key: EdgeKey,
    base_settings: Settings,
) -> None:
    hashed, record = edge_key
    row = edge_row(record)
    name = dead_letter_name(row.request_id)
    fake.put(name, edge_letter(hashed, row, base_settings.ingest_secret))

    async def broken_flush() -> None:
        raise OSError("disk full")

    ingest = envelope_ingest(auth, writer.submit, base_settings.ingest_secret)
    sweeper = DeadLetterSweeper(kv, ingest, interval=0.05, durable=broken_flush)
    with pytest.raises(OSError):
        await sweeper.sweep_once()
    assert name in fake.values


async def test_the_background_sweep_drains_kv(
    fake: FakeCloudflare,
    sweeper: DeadLetterSweeper,
    pool: postgres.Pool,
    writer: UsageWriter,
    edge_key: EdgeKey,
    base_settings: Settings,
) -> None:
    hashed, record = edge_key
    rows = [edge_row(record) for _ in range(3)]
    sweeper.start()
    try:
        for row in rows:
            await edge_writes(
                fake, dead_letter_name(row.request_id), edge_letter(hashed, row, base_settings.ingest_secret)
            )
        await _until(lambda: not fake.values)
    finally:
        await sweeper.stop()
    for row in rows:
        assert len(await stored(pool, writer, row.request_id)) == 1


async def test_a_disabled_publisher_means_no_sweeping() -> None:
    calls: list[bytes] = []

    async def ingest(raw: bytes) -> None:
        calls.append(raw)

    sweeper = DeadLetterSweeper(KVPublisher(None), ingest, interval=0.01)
    sweeper.start()
    assert await sweeper.sweep_once() == 0
    await sweeper.stop()
    assert calls == []


async def _until(condition: Callable[[], bool] | Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result if isinstance(result, bool) else await result:
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")
