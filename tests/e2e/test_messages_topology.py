"""Anthropic's Messages API through the whole topology: the official anthropic client → local edge
(the real Worker in Pyodide) → origin → fake provider. The edge takes the key as ``x-api-key`` and
refuses a bad one in Anthropic's shape, before the origin sees it."""

import anthropic
import pytest

from tests.e2e.conftest import Topology
from tests.edge.local_edge import node_missing

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")


def _client(topology: Topology, key: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=topology.edge.url, api_key=key, max_retries=0, timeout=30)


async def test_a_message_passes_the_edge_and_a_bad_key_stops_there(topology: Topology) -> None:
    key, _ = await topology.key()
    raw = await _client(topology, key).messages.with_raw_response.create(
        model="claude", max_tokens=50, messages=[{"role": "user", "content": "through the edge"}]
    )
    assert raw.headers["x-prism-edge-cache"] == "passthrough"
    assert (await raw.parse()).content[0].type == "text"
    rows = await topology.rows([raw.headers["x-prism-request-id"]])
    assert rows[raw.headers["x-prism-request-id"]]["model_used"] == "claude"

    before = topology.proxy.hits["/v1/messages"]
    with pytest.raises(anthropic.AuthenticationError) as refused:
        await _client(topology, "prism_sk_" + "Z" * 43).messages.create(
            model="claude", max_tokens=50, messages=[{"role": "user", "content": "x"}]
        )
    assert refused.value.response.headers["x-prism-edge-cache"] == "auth-reject"
    assert refused.value.body == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "Invalid API key.", "code": "invalid_api_key"},
    }
    assert topology.proxy.hits["/v1/messages"] == before
