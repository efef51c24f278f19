"""The whole topology on loopback: official openai client → local edge (the real Worker in Pyodide)
→ origin → fake provider, with real Redis and Postgres and the fake Cloudflare KV API."""

import asyncio
import json
from dataclasses import replace

import aiohttp
import httpx
import openai
import pytest

from edge.ingest import DEADLINE_SECONDS
from origin.stores import postgres
from shared import headers as h
from shared.edgekv import CACHE_PREFIX, KeyGrant, key_name
from shared.keys import key_hash
from tests.e2e.conftest import Topology
from tests.edge.local_edge import node_missing
from tests.harness import running_origin

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")

QUESTION = [{"role": "user", "content": "which river runs through Paris"}]


async def test_a_miss_then_an_edge_hit_each_with_its_own_attribution(topology: Topology) -> None:
    key, _ = await topology.key()
    forged = {h.EDGE_FORWARDED: "TYO.1.forged"}  # the edge's own stamp replaces a client's
    first = await topology.client(
        key, **{"X-Prism-Session": "conv-a", "X-Prism-Memory": "off", "X-Prism-Tags": "feature=a", **forged}
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
    assert miss["edge_region"] == "SIN"  # forwarded rows name the PoP too, as the edge signed it
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


async def test_a_session_gets_edge_hits_where_its_project_keeps_no_memory(topology: Topology) -> None:
    key, _ = await topology.key(session_memory=False)
    asked = []
    for session in ("conv-x", "conv-y"):
        prism = topology.client(key, **{"X-Prism-Session": session})
        asked.append(await prism.chat.completions.with_raw_response.create(model="beta", messages=QUESTION))
        await topology.origin.state.kv.flush()
    assert [raw.headers["x-prism-edge-cache"] for raw in asked] == ["passthrough", "hit"]
    ids = [raw.headers["x-prism-request-id"] for raw in asked]
    rows = await topology.rows(ids)
    assert [(rows[i]["session_id"], rows[i]["cache_status"]) for i in ids] == [
        ("conv-x", "miss"),
        ("conv-y", "hit-exact-edge"),
    ]


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


@pytest.mark.parametrize("down", [0.0, 5.0, 40.0])
async def test_rows_of_hits_survive_an_ingest_outage(topology: Topology, down: float) -> None:
    """No row lost with POST /internal/usage down for 0, 5 or 40 s: the edge's retries bridge an
    outage of about 20 s, its dead letters in KV (swept by the origin) a longer one."""
    key, _ = await topology.key()
    body = [{"role": "user", "content": f"a burst of identical questions ({down} s down)"}]
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
        ids = [raw.headers["x-prism-request-id"] for raw in raws]
        await asyncio.sleep(down)  # deliveries fail and back off meanwhile
        if down > DEADLINE_SECONDS:  # still down: only the dead letters the origin swept can have come
            assert sorted(await topology.rows(ids, seconds=1)) == sorted(ids)
    finally:
        topology.proxy.failing.clear()
    rows = await topology.rows(ids)
    assert sorted(rows) == sorted(ids)  # every row arrived, exactly once (request_id is the primary key)
    assert {json.loads(row["request_tags"])["n"] for row in rows.values()} == {str(i) for i in range(10)}


async def test_an_isolates_hits_reach_the_origin_in_batches(topology: Topology) -> None:
    key, _ = await topology.key()
    body = [{"role": "user", "content": "many hits, few hand-offs"}]
    await topology.client(key).chat.completions.create(model="beta", messages=body)
    await topology.origin.state.kv.flush()
    posts_before = topology.proxy.hits["/internal/usage"]
    raws = await asyncio.gather(
        *(
            topology.client(key).chat.completions.with_raw_response.create(model="beta", messages=body)
            for _ in range(12)
        )
    )
    assert {raw.headers["x-prism-edge-cache"] for raw in raws} == {"hit"}
    ids = [raw.headers["x-prism-request-id"] for raw in raws]
    assert sorted(await topology.rows(ids)) == sorted(ids)
    posts = topology.proxy.hits["/internal/usage"] - posts_before
    assert 1 <= posts < len(ids)  # one per batch (each opened for 1 s), not one per row


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


# --- an answer cached before a change is not served after it ---------------------------------------


def _changed(record: postgres.KeyRecord) -> tuple[str, str, str, str]:
    return ("--project", record.project_name, "--org", record.org_name)


async def test_a_new_deny_rule_stops_the_edge_hit(topology: Topology) -> None:
    key, record = await topology.key()
    await topology.edge_hit(key, "deny me later")
    await topology.cli("policy", "add", *_changed(record), "--deny-model", "beta")
    topology.origin.state.controls.invalidate(record.org_id, record.project_id)  # its own 5 s bound
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await topology.ask(key, [{"role": "user", "content": "deny me later"}])
    assert caught.value.response.headers["x-prism-edge-cache"] == "passthrough"
    assert caught.value.code == "policy_denied"


async def test_a_tighter_max_tokens_limit_stops_the_edge_hit(topology: Topology) -> None:
    key, record = await topology.key()
    await topology.edge_hit(key, "a long answer", max_tokens=100)
    await topology.cli("policy", "add", *_changed(record), "--max-tokens", "50")
    topology.origin.state.controls.invalidate(record.org_id, record.project_id)
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await topology.ask(key, [{"role": "user", "content": "a long answer"}], max_tokens=100)
    assert caught.value.response.headers["x-prism-edge-cache"] == "passthrough"
    assert caught.value.code == "policy_denied" and "max_tokens" in caught.value.message


async def test_edge_cache_off_stops_the_edge_hit(topology: Topology) -> None:
    key, record = await topology.key()
    await topology.edge_hit(key, "keep me home from now on")
    await topology.cli("project", "set", record.project_name, "--org", record.org_name, "--edge-cache", "off")
    topology.origin.state.controls.invalidate(record.org_id, record.project_id)
    again = await topology.ask(key, [{"role": "user", "content": "keep me home from now on"}])
    assert again.headers["x-prism-edge-cache"] == "passthrough"
    assert again.headers["x-prism-cache"] == "hit-exact"  # the origin's regional cache still answers


async def test_a_revoked_key_is_rejected_at_the_edge_despite_its_cached_answer(topology: Topology) -> None:
    key, _ = await topology.key()
    await topology.edge_hit(key, "revoke me")
    await topology.cli("keys", "revoke", key[:17])
    with pytest.raises(openai.AuthenticationError) as caught:
        await topology.ask(key, [{"role": "user", "content": "revoke me"}])
    assert caught.value.response.headers["x-prism-edge-cache"] == "auth-reject"
    assert caught.value.code == "revoked_api_key"


async def test_an_alias_remapped_by_a_new_origin_stops_the_edge_hit(
    topology: Topology, tmp_path_factory: pytest.TempPathFactory
) -> None:
    key, _ = await topology.key()
    await topology.edge_hit(key, "which model is fast", model="fast")
    grant = key_name(key_hash(key, topology.origin.state.settings.key_pepper))
    before = KeyGrant.from_json(topology.cloudflare.values[grant]).generation

    first = topology.origin.state.settings
    assert first.config_path is not None
    directory = tmp_path_factory.mktemp("remapped")
    remapped = directory / "prism.toml"
    remapped.write_text(first.config_path.read_text().replace('fast = "beta"', 'fast = "alpha"'))
    settings = replace(first, config_path=remapped, spool_dir=directory / "spool")
    async with running_origin(settings) as second:  # a restart with the new config, same stores
        for _ in range(300):
            if KeyGrant.from_json(topology.cloudflare.values[grant]).generation != before:
                break
            await asyncio.sleep(0.1)
        else:
            raise AssertionError("the new origin did not republish the grant")
        topology.proxy.target = second.url
        try:
            question = [{"role": "user", "content": "which model is fast"}]
            answer = await topology.ask(key, question, model="fast")
            assert answer.headers["x-prism-edge-cache"] == "passthrough"
            assert (answer.headers["x-prism-cache"], answer.headers["x-prism-model"]) == ("miss", "alpha")
            await second.state.kv.flush()  # published under the new generation: the PoP serves it again
            again = await topology.ask(key, question, model="fast")
            assert (again.headers["x-prism-edge-cache"], again.headers["x-prism-model"]) == ("hit", "alpha")
        finally:
            topology.proxy.target = topology.origin.url


async def test_erasing_the_cache_takes_the_answer_off_the_edge(topology: Topology) -> None:
    key, _ = await topology.key()
    await topology.edge_hit(key, "erase me from every PoP")
    async with httpx.AsyncClient(base_url=topology.origin.url) as http:
        erased = await http.delete(
            "/v1/cache", params={"all": "true"}, headers={"Authorization": f"Bearer {key}"}
        )
        residency = (await http.get("/v1/cache/residency", headers={"Authorization": f"Bearer {key}"})).json()
    assert erased.json()["deleted"] == {"exact": 1, "semantic": 0, "edge": 1, "memory": 0}
    assert residency["leaves_region"] and residency["stores"][-1]["store"] == "workers kv"
    await topology.origin.state.kv.flush()
    again = await topology.ask(key, [{"role": "user", "content": "erase me from every PoP"}])
    assert again.headers["x-prism-edge-cache"] == "passthrough" and again.headers["x-prism-cache"] == "miss"
