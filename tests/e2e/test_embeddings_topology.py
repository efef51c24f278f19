"""Embeddings at the edge, on the whole topology (official openai client → the real Worker in Pyodide
→ origin → fake provider): an embedding the origin computed once is served from the PoP, float and
base64 each their own answer, with a usage row carrying the request's own session and tags; a rule
the origin would refuse it under stops the edge hit too."""

import json
from typing import Any

import openai
import pytest

from tests.e2e.conftest import Topology
from tests.edge.local_edge import node_missing

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")

TEXT = ["the edge keeps vectors too", "and serves them from the PoP"]


async def _embed(topology: Topology, key: str, text: list[str], **headers: str) -> Any:
    return await topology.client(key, **headers).embeddings.with_raw_response.create(
        model="embed-small", input=text
    )


async def test_an_embedding_is_served_from_the_pop_with_its_own_row(topology: Topology) -> None:
    key, _ = await topology.key()
    first = await _embed(topology, key, TEXT, **{"X-Prism-Tags": "feature=a"})
    assert (first.headers["x-prism-edge-cache"], first.headers["x-prism-cache"]) == ("passthrough", "miss")
    await topology.origin.state.kv.flush()

    origin_calls = topology.proxy.hits["/v1/embeddings"]
    second = await _embed(
        topology,
        key,
        TEXT,
        **{"X-Prism-Tags": "feature=b", "X-Prism-Session": "s-embed", "X-Prism-Memory": "off"},
    )
    assert (second.headers["x-prism-edge-cache"], second.headers["x-prism-cache"]) == (
        "hit",
        "hit-exact-edge",
    )
    assert topology.proxy.hits["/v1/embeddings"] == origin_calls  # answered at the PoP
    vectors = [item.embedding for item in second.parse().data]
    assert vectors == [item.embedding for item in first.parse().data] and len(vectors) == 2
    assert second.parse().usage.prompt_tokens == first.parse().usage.prompt_tokens

    ids = [first.headers["x-prism-request-id"], second.headers["x-prism-request-id"]]
    rows = await topology.rows(ids)
    miss, hit = rows[ids[0]], rows[ids[1]]
    assert miss["task_type"] == hit["task_type"] == "embedding"
    assert (hit["cache_status"], hit["edge_region"], hit["session_id"]) == (
        "hit-exact-edge",
        "SIN",
        "s-embed",
    )
    assert json.loads(hit["request_tags"]) == {"feature": "b"}
    assert float(hit["cost_provider_cents"]) == 0
    assert float(hit["cache_saved_cents"]) == pytest.approx(float(miss["cost_provider_cents"]))
    assert hit["tokens_in"] == miss["tokens_in"] > 0

    # The official client asks for base64 (and decodes it); float is another answer, computed once too.
    assert json.loads(second.http_request.content)["encoding_format"] == "base64"
    floats = await topology.client(key).embeddings.with_raw_response.create(
        model="embed-small", input=TEXT, encoding_format="float"
    )
    assert floats.headers["x-prism-edge-cache"] == "passthrough"
    await topology.origin.state.kv.flush()
    again = await topology.client(key).embeddings.with_raw_response.create(
        model="embed-small", input=TEXT, encoding_format="float"
    )
    assert again.headers["x-prism-edge-cache"] == "hit"
    assert again.http_response.json()["data"][0]["embedding"] == pytest.approx(vectors[0], rel=1e-6)


async def test_a_deny_rule_on_the_model_stops_the_edge_hit(topology: Topology) -> None:
    key, record = await topology.key()
    text = ["denied soon"]
    await _embed(topology, key, text)
    await topology.origin.state.kv.flush()
    assert (await _embed(topology, key, text)).headers["x-prism-edge-cache"] == "hit"
    await topology.cli(
        "policy", "add", "--org", record.org_name, "--project", record.project_name, "--deny-model", "embed-*"
    )
    topology.origin.state.controls.invalidate(record.org_id, record.project_id)  # its own 5 s bound
    with pytest.raises(openai.PermissionDeniedError) as caught:
        await _embed(topology, key, text)
    assert caught.value.response.headers["x-prism-edge-cache"] == "passthrough"
    assert caught.value.code == "policy_denied"


async def test_edge_cache_off_keeps_embeddings_at_the_origin(topology: Topology) -> None:
    key, _ = await topology.key(edge_cache="off")
    text = ["stays home"]
    await _embed(topology, key, text)
    await topology.origin.state.kv.flush()
    again = await _embed(topology, key, text)
    assert (again.headers["x-prism-edge-cache"], again.headers["x-prism-cache"]) == (
        "passthrough",
        "hit-exact",
    )
