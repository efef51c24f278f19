"""The whole topology on loopback: official openai client → local edge (the real Worker in Pyodide)
→ origin → fake provider, with real Redis and Postgres and the fake Cloudflare KV API."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import openai
import pytest

from origin.config import config_digest
from origin.controls.grants import publish_project_grants
from origin.settings import Settings
from origin.stores import controls, postgres
from shared.edgekv import CACHE_PREFIX
from tests.e2e.proxy import CountingProxy
from tests.edge.local_edge import LocalEdge, node_missing
from tests.fakes.cloudflare_api import FakeCloudflare
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin
from tests.origin.helpers import gateway_settings

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")

QUESTION = [{"role": "user", "content": "which river runs through Paris"}]


@dataclass
class Topology:
    origin: RunningOrigin
    proxy: CountingProxy
    edge: LocalEdge
    cloudflare: FakeCloudflare
    pool: postgres.Pool

    def client(self, key: str, **headers: str) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.edge.url + "/v1",
            api_key=key,
            max_retries=0,
            timeout=30,
            default_headers=headers or None,
        )

    async def key(self, *, edge_cache: str = "global") -> tuple[str, postgres.KeyRecord]:
        settings = self.origin.state.settings
        key, record = await postgres.create_key(
            self.pool, project=f"e2e-{uuid.uuid4().hex[:8]}", org="e2e", pepper=settings.key_pepper
        )
        if edge_cache != "global":
            await controls.update_project_settings(self.pool, record.project_id, {"edge_cache": edge_cache})
        digest = config_digest(self.origin.state.config)
        await publish_project_grants(self.pool, self.origin.state.kv, record.project_id, config_digest=digest)
        return key, record

    async def rows(self, request_ids: list[str], seconds: float = 40.0) -> dict[str, dict[str, Any]]:
        """The usage rows of these requests, waiting until all of them have arrived."""
        found: dict[str, dict[str, Any]] = {}
        for _ in range(int(seconds * 10)):
            await self.origin.state.writer.flush()
            records = await self.pool.fetch(
                "SELECT * FROM usage_logs WHERE request_id = ANY($1::uuid[])", request_ids
            )
            found = {str(record["request_id"]): dict(record) for record in records}
            if len(found) == len(request_ids):
                return found
            await asyncio.sleep(0.1)
        return found


@pytest.fixture(scope="module")
async def topology(
    base_settings: Settings, pool: postgres.Pool, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Topology]:
    provider, cloudflare = FakeProvider(), FakeCloudflare()
    provider_url, kv_url = await provider.start(), await cloudflare.start()
    settings = gateway_settings(
        replace(
            base_settings,
            cf_api_token=cloudflare.token,
            cf_account_id=cloudflare.account_id,
            cf_kv_namespace_id=cloudflare.namespace_id,
            cf_api_base_url=kv_url,
            dead_letter_sweep_seconds=0.5,
        ),
        provider_url,
        tmp_path_factory.mktemp("e2e"),
    )
    try:
        async with running_origin(settings) as origin:
            proxy = CountingProxy(origin.url)
            await proxy.start()
            try:
                async with LocalEdge(
                    origin_url=proxy.url,
                    kv_base_url=kv_url,
                    account=cloudflare.account_id,
                    namespace=cloudflare.namespace_id,
                    token=cloudflare.token,
                    pepper=settings.key_pepper,
                    ingest_secret=settings.ingest_secret,
                    colo="SIN",
                ) as edge:
                    yield Topology(origin, proxy, edge, cloudflare, pool)
            finally:
                await proxy.stop()
    finally:
        await provider.stop()
        await cloudflare.stop()


async def test_a_miss_then_an_edge_hit_each_with_its_own_attribution(topology: Topology) -> None:
    key, _ = await topology.key()
    first = await topology.client(
        key, **{"X-Prism-Session": "conv-a", "X-Prism-Memory": "off", "X-Prism-Tags": "feature=a"}
    ).chat.completions.with_raw_response.create(model="beta", messages=QUESTION)
    assert first.headers["x-prism-edge-cache"] == "passthrough" and first.headers["x-prism-cache"] == "miss"
    await topology.origin.state.kv.flush()  # the answer is now in Workers KV

    origin_calls = topology.proxy.hits["/v1/chat/completions"]
    second = await topology.client(
        key, **{"X-Prism-Session": "conv-b", "X-Prism-Memory": "off", "X-Prism-Tags": "feature=b,team=x"}
    ).chat.completions.with_raw_response.create(model="beta", messages=QUESTION)
    assert second.headers["x-prism-edge-cache"] == "hit"
    assert (
        second.headers["x-prism-cache"] == "hit-exact-edge" and second.headers["x-prism-edge-region"] == "SIN"
    )
    assert topology.proxy.hits["/v1/chat/completions"] == origin_calls  # answered at the PoP
    assert second.parse().choices[0].message.content == first.parse().choices[0].message.content

    ids = [first.headers["x-prism-request-id"], second.headers["x-prism-request-id"]]
    rows = await topology.rows(ids)
    miss, hit = rows[ids[0]], rows[ids[1]]
    assert (miss["session_id"], json.loads(miss["request_tags"])) == ("conv-a", {"feature": "a"})
    assert (hit["session_id"], json.loads(hit["request_tags"])) == ("conv-b", {"feature": "b", "team": "x"})
    assert (
        hit["cache_status"] == "hit-exact-edge" and hit["edge_region"] == "SIN" and hit["provider"] == "cache"
    )
    assert float(hit["cost_provider_cents"]) == 0
    assert float(hit["cache_saved_cents"]) == pytest.approx(float(miss["cost_provider_cents"]))

    stream = await topology.client(
        key, **{"X-Prism-Memory": "off"}
    ).chat.completions.with_raw_response.create(
        model="beta", messages=QUESTION, stream=True, stream_options={"include_usage": True}
    )
    chunks = [chunk async for chunk in stream.parse()]
    assert stream.headers["x-prism-edge-cache"] == "hit"
    assert (
        "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        == first.parse().choices[0].message.content
    )
    assert chunks[-1].usage is not None


async def test_a_bad_key_is_rejected_at_the_edge_and_the_origin_sees_nothing(topology: Topology) -> None:
    def client_requests() -> int:  # the edge's own usage hand-offs (/internal/usage) do not count
        return sum(count for path, count in topology.proxy.hits.items() if path.startswith("/v1"))

    before = client_requests()
    for key in ("prism_sk_" + "Z" * 43, "not-a-prism-key"):
        with pytest.raises(openai.AuthenticationError) as caught:
            await topology.client(key).chat.completions.create(model="beta", messages=QUESTION)
        assert caught.value.response.headers["x-prism-edge-cache"] == "auth-reject"
    async with aiohttp.ClientSession() as session:
        async with session.post(
            topology.edge.url + "/v1/chat/completions", json={"messages": QUESTION}
        ) as response:
            assert response.status == 401 and response.headers["x-prism-edge-cache"] == "auth-reject"
            assert (await response.json())["error"]["code"] == "missing_api_key"
    assert client_requests() == before


async def test_rows_of_hits_survive_an_ingest_outage(topology: Topology) -> None:
    key, _ = await topology.key()
    body = [{"role": "user", "content": "a burst of identical questions"}]
    await topology.client(key).chat.completions.create(model="beta", messages=body)
    await topology.origin.state.kv.flush()
    topology.proxy.failing.add("/internal/usage")
    try:
        raws = await asyncio.gather(
            *(
                topology.client(key, **{"X-Prism-Tags": f"n={i}"}).chat.completions.with_raw_response.create(
                    model="beta", messages=body
                )
                for i in range(10)
            )
        )
        assert {raw.headers["x-prism-edge-cache"] for raw in raws} == {"hit"}
        await asyncio.sleep(2.0)  # deliveries fail and back off meanwhile
    finally:
        topology.proxy.failing.clear()
    ids = [raw.headers["x-prism-request-id"] for raw in raws]
    rows = await topology.rows(ids)
    assert sorted(rows) == sorted(ids)  # every row arrived, exactly once (request_id is the primary key)
    assert {json.loads(row["request_tags"])["n"] for row in rows.values()} == {str(i) for i in range(10)}


async def test_a_project_that_keeps_answers_home_is_never_served_from_kv(topology: Topology) -> None:
    key, _ = await topology.key(edge_cache="off")
    body = [{"role": "user", "content": "this answer stays in the region"}]
    first = await topology.client(key).chat.completions.with_raw_response.create(model="beta", messages=body)
    await topology.origin.state.kv.flush()
    second = await topology.client(key).chat.completions.with_raw_response.create(model="beta", messages=body)
    assert first.headers["x-prism-edge-cache"] == second.headers["x-prism-edge-cache"] == "passthrough"
    assert second.headers["x-prism-cache"] == "hit-exact"  # the origin's own cache still serves it
    published = [name for name in topology.cloudflare.values if name.startswith(CACHE_PREFIX)]
    entries = [json.loads(topology.cloudflare.values[name]) for name in published]
    assert all(
        entry["response"]["choices"][0]["message"]["content"] != "echo: " + body[0]["content"]
        for entry in entries
    )
