"""The hit's usage row and its delivery: signed, retried within the waitUntil budget, dead-lettered."""

import asyncio
import json
import logging
from typing import Any

import pytest

from edge import ingest
from edge.cache import Lookup
from edge.ingest import Delivery, Parcel, deliver
from edge.runtime import Headers
from shared import headers as h
from shared.edgekv import dead_letter_name, open_dead_letter
from shared.request import parse_request_headers
from shared.signing import verify
from shared.usage import UsageRow
from tests.edge.fakes import (
    ENTRY,
    GRANT,
    ORIGIN,
    SECRET,
    START,
    FakeClock,
    MemoryKV,
    ScriptedPoster,
    make_env,
)

REQUEST_ID = "0b7e6f3c-8f4e-4a53-9d7a-1f2e3d4c5b6a"
HEADERS = parse_request_headers(
    Headers(
        [
            ("X-Prism-Tags", "feature=search, team = core ,bad"),
            ("X-Prism-Session", "conv-7"),
            (h.MODE, "cheap"),
        ]
    )
)


def _hit_row(**changes: Any) -> UsageRow:
    found = Lookup(fp="f" * 64, stream=True, include_usage=False, task_type="code")
    values: dict[str, Any] = {
        "request_id": REQUEST_ID,
        "region": "FRA",
        "started": START,
        "now": START + 0.0125,
    }
    return ingest.hit_row(GRANT, ENTRY, found, HEADERS, **(values | changes))


def _body() -> bytes:
    return ingest.envelope("h" * 64, _hit_row())


class Delivering:
    def __init__(self, script: list[int | BaseException], **poster: Any) -> None:
        self.kv = MemoryKV()
        self.clock = FakeClock()
        self.poster = ScriptedPoster(self.clock, list(script), **poster)

    async def run(self, body: bytes | None = None) -> Delivery:
        [outcome] = await deliver(
            [Parcel(REQUEST_ID, body or _body())],
            make_env(self.kv),
            self.poster,
            clock=self.clock,
            sleep=self.clock.sleep,
            jitter=lambda: 1.0,
        )
        return outcome

    def dead_letter(self) -> dict[str, Any] | None:
        raw = self.kv.data.get(dead_letter_name(REQUEST_ID))
        return None if raw is None else dict(json.loads(raw))


def test_hit_row_carries_the_hitting_requests_attribution() -> None:
    row = _hit_row()
    assert (row.org_id, row.project_id, row.key_id) == (GRANT.org_id, GRANT.project_id, GRANT.key_id)
    assert row.request_id == REQUEST_ID
    assert row.created_at.timestamp() == START + 0.0125
    assert (row.mode, row.task_type, row.model_used, row.provider) == ("cheap", "code", "alpha-1", "cache")
    assert (row.tokens_in, row.tokens_out, row.tokens_cached_in) == (12, 5, 2)
    assert (row.cost_provider_cents, row.cost_total_cents, row.cache_saved_cents) == (0.0, 0.0, 0.0042)
    assert (row.latency_ms, row.was_streaming, row.success, row.status_code) == (12, True, True, 200)
    assert row.session_id == "conv-7"
    assert row.request_tags == {"feature": "search", "team": "core"}
    assert (row.cache_status, row.edge_region) == ("hit-exact-edge", "FRA")


def test_envelope_is_what_the_origin_ingests() -> None:
    envelope = json.loads(_body())
    assert set(envelope) == {"key_hash", "row"}
    assert envelope["key_hash"] == "h" * 64
    row = UsageRow.from_dict(envelope["row"])  # the origin's own validation
    assert row.to_wire() == _hit_row().to_wire()


async def test_signed_delivery_to_the_ingest_endpoint() -> None:
    run = Delivering([202])
    assert await run.run() == Delivery.DELIVERED
    [post] = run.poster.posts
    assert post.url == f"{ORIGIN}/internal/usage"
    assert post.timeout == ingest.ATTEMPT_TIMEOUT
    assert post.headers["content-type"] == "application/json"
    assert verify(
        post.body, post.headers[h.INGEST_TIMESTAMP], post.headers[h.INGEST_SIGNATURE], SECRET, now=run.clock()
    )
    assert not verify(
        post.body, post.headers[h.INGEST_TIMESTAMP], post.headers[h.INGEST_SIGNATURE], "x" * 32, now=START
    )
    assert run.dead_letter() is None


async def test_transient_failures_are_retried_with_fresh_signatures() -> None:
    run = Delivering([503, ConnectionError("reset"), TimeoutError(), 429, 408, 202])
    assert await run.run() == Delivery.DELIVERED
    assert len(run.poster.posts) == 6
    stamps = [int(post.headers[h.INGEST_TIMESTAMP]) for post in run.poster.posts]
    assert stamps == sorted(stamps) and stamps[0] < stamps[-1]
    for post in run.poster.posts:
        assert post.body == run.poster.posts[0].body  # the same row: idempotent on request_id
        assert verify(post.body, str(int(post.at)), post.headers[h.INGEST_SIGNATURE], SECRET, now=post.at)
    assert run.clock.sleeps == [ingest.backoff(n, 1.0) for n in range(1, 6)]
    assert run.dead_letter() is None


def test_backoff_grows_with_jitter_and_a_cap() -> None:
    assert [ingest.backoff(n, 1.0) for n in range(1, 6)] == [0.5, 1.0, 2.0, 4.0, 4.0]
    assert [ingest.backoff(n, 0.0) for n in range(1, 4)] == [0.25, 0.5, 1.0]


async def test_timeouts_stay_inside_the_waituntil_budget_then_dead_letter() -> None:
    run = Delivering([], default=TimeoutError())
    assert await run.run() == Delivery.DEAD_LETTERED
    for post in run.poster.posts:
        assert post.at + ingest.ATTEMPT_TIMEOUT <= START + ingest.DEADLINE_SECONDS
    assert run.clock() - START <= ingest.DEADLINE_SECONDS < 30
    assert len(run.poster.posts) == 4
    assert run.dead_letter() is not None


async def test_fast_failures_stop_after_the_attempt_limit() -> None:
    run = Delivering([], default=ConnectionError("refused"))
    assert await run.run() == Delivery.DEAD_LETTERED
    assert len(run.poster.posts) == ingest.MAX_ATTEMPTS
    assert run.clock() - START < 30


async def test_dead_letter_holds_the_signed_envelope_for_a_week() -> None:
    run = Delivering([], default=503)
    body = _body()
    assert await run.run(body) == Delivery.DEAD_LETTERED
    name = dead_letter_name(REQUEST_ID)
    assert run.kv.ttls[name] == ingest.DEAD_LETTER_TTL == 7 * 24 * 3600
    record = run.dead_letter()
    assert record is not None and set(record) == {"body", "timestamp", "signature"}
    assert record["body"].encode() == body
    stamp = record["timestamp"]
    assert verify(body, str(stamp), record["signature"], SECRET, now=stamp)
    assert UsageRow.from_dict(json.loads(record["body"])["row"]).request_id == REQUEST_ID


async def test_dead_letter_is_what_the_origin_sweeper_opens() -> None:
    run = Delivering([400])
    body = _body()
    assert await run.run(body) == Delivery.DEAD_LETTERED
    raw = run.kv.data[dead_letter_name(REQUEST_ID)]
    assert open_dead_letter(raw, SECRET) == body  # shared.edgekv: the one format both tiers use
    with pytest.raises(ValueError):
        open_dead_letter(raw, SECRET + "x")


@pytest.mark.parametrize("status", [400, 401, 403, 413])
async def test_a_refused_row_is_not_retried_but_dead_lettered(status: int) -> None:
    run = Delivering([status])
    assert await run.run() == Delivery.DEAD_LETTERED
    assert len(run.poster.posts) == 1
    assert run.dead_letter() is not None


async def test_dead_letter_write_is_retried_once() -> None:
    run = Delivering([400])
    run.kv.put_failures = 1
    assert await run.run() == Delivery.DEAD_LETTERED


async def test_a_row_neither_side_takes_is_logged_whole(caplog: pytest.LogCaptureFixture) -> None:
    run = Delivering([400])
    run.kv.put_failures = 2
    with caplog.at_level(logging.ERROR, logger="prism.edge.ingest"):
        assert await run.run() == Delivery.LOST
    assert REQUEST_ID in caplog.text and '"signature"' in caplog.text


async def test_a_poster_that_ignores_its_timeout_is_cut_off(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ingest, "ATTEMPT_TIMEOUT", 0.01)
    monkeypatch.setattr(ingest, "MAX_ATTEMPTS", 2)

    class Hanging:
        calls = 0

        async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
            self.calls += 1
            await asyncio.sleep(10)
            return 202

    kv, clock, poster = MemoryKV(), FakeClock(), Hanging()
    parcels = [Parcel(REQUEST_ID, _body())]
    outcome = await deliver(parcels, make_env(kv), poster, clock=clock, sleep=clock.sleep)
    assert outcome == [Delivery.DEAD_LETTERED] and poster.calls == 2


def test_refused_row_records_the_error() -> None:
    row = ingest.refused_row(
        GRANT,
        HEADERS,
        request_id=REQUEST_ID,
        status=400,
        code="invalid_session_header",
        region="SIN",
        started=START,
        now=START + 0.002,
    )
    assert (row.success, row.status_code, row.error_code, row.cache_status) == (
        False,
        400,
        "invalid_session_header",
        "hit-exact-edge",
    )
    assert (row.provider, row.model_used, row.cache_saved_cents, row.latency_ms) == (None, None, 0.0, 2)
    assert row.request_tags == {"feature": "search", "team": "core"}


def _parcels(count: int) -> list[Parcel]:
    ids = [f"0b7e6f3c-8f4e-4a53-9d7a-{index:012x}" for index in range(count)]
    return [
        Parcel(request_id, ingest.envelope("h" * 64, _hit_row(request_id=request_id))) for request_id in ids
    ]


async def _deliver(parcels: list[Parcel], kv: MemoryKV, poster: Any, clock: FakeClock) -> list[Delivery]:
    env = make_env(kv)
    return await deliver(parcels, env, poster, clock=clock, sleep=clock.sleep, jitter=lambda: 1.0)


async def test_a_batch_is_one_signed_post_of_its_envelopes() -> None:
    kv, clock = MemoryKV(), FakeClock()
    poster = ScriptedPoster(clock, [202])
    parcels = _parcels(3)
    assert await _deliver(parcels, kv, poster, clock) == [Delivery.DELIVERED] * 3
    [post] = poster.posts
    stamp, signature = post.headers[h.INGEST_TIMESTAMP], post.headers[h.INGEST_SIGNATURE]
    assert verify(post.body, stamp, signature, SECRET, now=clock())
    assert json.loads(post.body) == {"rows": [json.loads(parcel.body) for parcel in parcels]}
    assert ingest.batch_body(parcels[:1]) == parcels[0].body  # a batch of one is the bare envelope


async def test_a_refused_batch_goes_again_row_by_row_and_only_the_refused_row_is_left() -> None:
    kv, clock = MemoryKV(), FakeClock()
    poster = ScriptedPoster(clock, [403, 202, 403, 202])
    parcels = _parcels(3)
    outcomes = await _deliver(parcels, kv, poster, clock)
    assert outcomes == [Delivery.DELIVERED, Delivery.DEAD_LETTERED, Delivery.DELIVERED]
    assert [post.body for post in poster.posts[1:]] == [parcel.body for parcel in parcels]
    assert list(kv.data) == [dead_letter_name(parcels[1].request_id)]
    assert open_dead_letter(kv.data[dead_letter_name(parcels[1].request_id)], SECRET) == parcels[1].body


@pytest.mark.parametrize("failure", [503, ConnectionError("refused")])
async def test_a_batch_the_origin_never_answers_is_dead_lettered_row_by_row(failure: Any) -> None:
    kv, clock = MemoryKV(), FakeClock()
    parcels = _parcels(4)
    poster = ScriptedPoster(clock, [], default=failure)
    outcomes = await _deliver(parcels, kv, poster, clock)
    assert outcomes == [Delivery.DEAD_LETTERED] * 4 and clock() - START <= ingest.DEADLINE_SECONDS
    assert {post.body for post in poster.posts} == {ingest.batch_body(parcels)}  # not sent again alone
    for parcel in parcels:  # each letter is the row's own envelope, as the sweeper opens one
        assert open_dead_letter(kv.data[dead_letter_name(parcel.request_id)], SECRET) == parcel.body


class DownFor:
    """The ingest endpoint refusing connections for ``seconds`` of fake time, then taking everything."""

    def __init__(self, clock: FakeClock, seconds: float) -> None:
        self.clock, self.until, self.taken = clock, clock() + seconds, 0

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.clock.now += 0.05
        if self.clock() < self.until:
            raise ConnectionError("refused")
        self.taken += len(json.loads(body)["rows"]) if body.startswith(b'{"rows":') else 1
        return 202


@pytest.mark.parametrize(
    ("down", "expected"), [(0, Delivery.DELIVERED), (5, Delivery.DELIVERED), (40, Delivery.DEAD_LETTERED)]
)
async def test_no_row_is_lost_while_the_ingest_endpoint_is_down(down: float, expected: Delivery) -> None:
    """Up to about 20 s of outage is bridged by retries; a longer one, by the dead letters the
    origin sweeps: either way every row arrives."""
    kv, clock = MemoryKV(), FakeClock()
    poster = DownFor(clock, down)
    parcels = _parcels(50)
    assert await _deliver(parcels, kv, poster, clock) == [expected] * 50
    assert poster.taken + len(kv.data) == 50
