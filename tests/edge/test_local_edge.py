"""Smoke tests of the real Worker code (edge/entry.py and below) running in Pyodide behind the local
edge server, with its KV on the fake Cloudflare API and a small aiohttp origin stand-in."""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Final

import aiohttp
import pytest
from aiohttp import web
from multidict import CIMultiDict

from shared import headers as h
from shared.edgekv import EdgeCacheEntry, KeyGrant, cache_name, key_name
from shared.fingerprint import fingerprint
from shared.keys import key_hash
from tests.edge.local_edge import LocalEdge, node_missing
from tests.fakes.cloudflare_api import FakeCloudflare

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=str(node_missing()))

PEPPER: Final = "local-edge-pepper-0123456789"
SECRET: Final = "local-edge-ingest-secret-0123456789"
KEY: Final = "prism_sk_" + "L" * 43
CACHING_KEY: Final = "prism_sk_" + "C" * 43
UNKNOWN_KEY: Final = "prism_sk_" + "U" * 43
EVENTS: Final = [b'data: {"n": 1}\n\n', b'data: {"n": 2}\n\n', b'data: {"n": 3}\n\n', b"data: [DONE]\n\n"]


@dataclass
class Origin:
    """The origin stand-in: records what reaches it; streams SSE on POST /v1/chat/completions and
    accepts the edge's usage hand-offs on POST /internal/usage."""

    url: str = ""
    seen: list[tuple[str, str, CIMultiDict[str]]] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)
    usage: list[bytes] = field(default_factory=list)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    last_sent: bool = False

    async def healthz(self, request: web.Request) -> web.Response:
        self.seen.append((request.method, request.path, CIMultiDict(request.headers)))
        return web.json_response({"status": "ok"}, headers={"X-Origin": "stand-in"})

    async def ingest(self, request: web.Request) -> web.Response:
        self.usage.append(await request.read())
        return web.json_response({"accepted": 1}, status=202)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.seen.append((request.method, request.path, CIMultiDict(request.headers)))
        self.bodies.append(await request.read())
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(EVENTS[0])
        # The rest waits until the client has the first event: proof that nothing buffers it.
        await asyncio.wait_for(self.release.wait(), 20)
        for event in EVENTS[1:]:
            await asyncio.sleep(0.05)
            self.last_sent = event is EVENTS[-1]
            await response.write(event)
        await response.write_eof()
        return response


@pytest.fixture(scope="module")
async def cloudflare() -> AsyncIterator[FakeCloudflare]:
    async with FakeCloudflare() as fake:
        yield fake


@pytest.fixture(scope="module")
async def origin() -> AsyncIterator[Origin]:
    stand_in = Origin()
    app = web.Application()
    app.router.add_get("/healthz", stand_in.healthz)
    app.router.add_post("/v1/chat/completions", stand_in.chat)
    app.router.add_post("/internal/usage", stand_in.ingest)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    stand_in.url = f"http://127.0.0.1:{runner.addresses[0][1]}"
    yield stand_in
    await runner.cleanup()


@pytest.fixture(scope="module")
async def edge(cloudflare: FakeCloudflare, origin: Origin) -> AsyncIterator[LocalEdge]:
    grant = KeyGrant(key_id="k1", project_id="p1", org_id="o1", active=True, edge_cache=False)
    cloudflare.put(key_name(key_hash(KEY, PEPPER)), grant.to_json())
    caching = KeyGrant(
        key_id="k2", project_id="p2", org_id="o1", active=True, edge_cache=True, generation="gen-2"
    )
    cloudflare.put(key_name(key_hash(CACHING_KEY, PEPPER)), caching.to_json())
    async with LocalEdge(
        origin_url=origin.url,
        kv_base_url=cloudflare.base_url,
        account=cloudflare.account_id,
        namespace=cloudflare.namespace_id,
        token=cloudflare.token,
        pepper=PEPPER,
        ingest_secret=SECRET,
        colo="SIN",
    ) as local:
        yield local


@pytest.fixture
async def client() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session


async def test_healthz_is_forwarded_with_the_edge_headers(
    edge: LocalEdge, origin: Origin, client: aiohttp.ClientSession
) -> None:
    async with client.get(f"{edge.url}/healthz", headers={"X-Trace": "t-1"}) as response:
        assert response.status == 200
        assert await response.json() == {"status": "ok"}
        assert response.headers["X-Origin"] == "stand-in"
        assert response.headers["X-Prism-Edge-Cache"] == "passthrough"
        assert response.headers["X-Prism-Edge-Region"] == "SIN"
    method, path, headers = origin.seen[-1]
    assert (method, path, headers["X-Trace"]) == ("GET", "/healthz", "t-1")


async def test_a_request_without_a_key_is_rejected_at_the_edge(
    edge: LocalEdge, origin: Origin, client: aiohttp.ClientSession
) -> None:
    before = len(origin.seen)
    async with client.post(f"{edge.url}/v1/chat/completions", json={"model": "auto"}) as response:
        assert response.status == 401
        assert response.headers["X-Prism-Edge-Cache"] == "auth-reject"
        assert response.headers["X-Prism-Edge-Region"] == "SIN"
        assert (await response.json())["error"]["code"] == "missing_api_key"
    assert len(origin.seen) == before


async def test_a_key_missing_from_kv_is_rejected_at_the_edge(
    edge: LocalEdge, origin: Origin, cloudflare: FakeCloudflare, client: aiohttp.ClientSession
) -> None:
    before, reads = len(origin.seen), cloudflare.count("GET")
    headers = {"Authorization": f"Bearer {UNKNOWN_KEY}"}
    async with client.post(f"{edge.url}/v1/chat/completions", json={}, headers=headers) as response:
        assert response.status == 401
        assert (await response.json())["error"]["code"] == "invalid_api_key"
    assert len(origin.seen) == before
    assert cloudflare.count("GET") == reads + 1  # the grant was looked up through the KV binding


async def test_a_streamed_answer_arrives_event_by_event(
    edge: LocalEdge, origin: Origin, client: aiohttp.ClientSession
) -> None:
    body = b'{"model": "auto", "stream": true, "messages": [{"role": "user", "content": "hi"}]}'
    headers = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    async with client.post(f"{edge.url}/v1/chat/completions", data=body, headers=headers) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Prism-Edge-Cache"] == "passthrough"
        received = b""
        while not received.endswith(EVENTS[0]):
            received += await asyncio.wait_for(response.content.readany(), 15)
        assert not origin.last_sent
        origin.release.set()
        received += await response.content.read()
    assert received == b"".join(EVENTS)
    assert origin.last_sent
    assert origin.bodies[-1] == body  # forwarded byte for byte


async def test_a_cache_hit_is_answered_from_kv_and_its_usage_sent_after_the_response(
    edge: LocalEdge, origin: Origin, cloudflare: FakeCloudflare, client: aiohttp.ClientSession
) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "cached?"}], "temperature": 0}
    completion = {
        "id": "chatcmpl-stored",
        "object": "chat.completion",
        "created": 1,
        "model": "alpha-1",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "from KV"}, "finish_reason": "stop"}
        ],
        "usage": {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5},
    }
    entry = EdgeCacheEntry(
        completion,
        "alpha-1",
        tokens_in=3,
        tokens_out=2,
        tokens_cached_in=0,
        cost_cents=0.01,
        generation="gen-2",  # the grant's: made under the project's current controls
    )
    cloudflare.put(cache_name(fingerprint("p2", body, mode=None, model_prefer=None)), entry.to_json())
    before = len(origin.seen)
    headers = {"Authorization": f"Bearer {CACHING_KEY}"}
    async with client.post(f"{edge.url}/v1/chat/completions", json=body, headers=headers) as response:
        assert response.status == 200
        assert response.headers["X-Prism-Edge-Cache"] == "hit"
        request_id = response.headers[h.REQUEST_ID]
        assert (await response.json())["choices"][0]["message"]["content"] == "from KV"
    assert len(origin.seen) == before  # the chat itself never reached the origin
    # The usage row goes out through ctx.waitUntil once the response is done.
    for _ in range(200):
        if origin.usage:
            break
        await asyncio.sleep(0.05)
    [posted] = origin.usage
    assert json.loads(posted)["row"]["request_id"] == request_id
    for _ in range(100):
        if (await edge.stats())["wait_until"]["pending"] == 0:
            break
        await asyncio.sleep(0.05)
    stats = await edge.stats()
    assert stats["wait_until"]["settled"] >= 1
    assert stats["wait_until"]["failed"] == 0


async def test_the_server_counts_requests(edge: LocalEdge, client: aiohttp.ClientSession) -> None:
    before = (await edge.stats())["requests"]
    async with client.get(f"{edge.url}/healthz") as response:
        await response.read()
    stats = await edge.stats()
    assert stats["requests"] == before + 1  # /__edge/* is the server's own and not counted
    assert stats["inflight"] == 0
    assert stats["errors"] == 0
    assert stats["wait_until"]["failed"] == 0
