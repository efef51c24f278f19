"""Prism against OpenAI's own OpenAPI schemas: every answer, streamed chunk and error body it sends,
at the origin and through the local edge, for both provider kinds, fresh and from the cache; and every
request the schema refuses at a field Prism reads is a 400 naming that field."""

import json
import re
import uuid
from decimal import Decimal
from typing import Any, Final

import pytest
from jsonschema import Draft202012Validator

from origin.stores import controls, postgres
from tests.contract.spec import (
    CHUNK,
    ERROR,
    REQUEST,
    RESPONSE,
    assert_conforms,
    document,
    rejected_values,
    violations,
    with_value,
)
from tests.contract.wire import Exchange, post_chat
from tests.e2e.conftest import Topology
from tests.edge.local_edge import node_missing
from tests.fakes.behaviour import Behaviour
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin

OPENAI_KIND: Final = "alpha"
ANTHROPIC_KIND: Final = "claude"
MODELS: Final = (OPENAI_KIND, ANTHROPIC_KIND)
BAD_KEY: Final = "prism_sk_" + "Z" * 43
TOOL: Final = {
    "type": "function",
    "function": {
        "name": "lookup",
        "description": "Look a word up.",
        "parameters": {"type": "object", "properties": {"input": {"type": "string"}}},
    },
}

needs_node = pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")

# How a request asks for its answer: one JSON object, or a stream with or without a usage chunk.
JSON_ANSWER, STREAM, STREAM_WITH_USAGE = "json", "stream", "stream+usage"
ASK: Final[dict[str, dict[str, Any]]] = {
    JSON_ANSWER: {},
    STREAM: {"stream": True},
    STREAM_WITH_USAGE: {"stream": True, "stream_options": {"include_usage": True}},
}
# A miss answered one way, then the same question again (a cache hit) asked the same or the other way.
MISS_THEN_HIT: Final = [
    (JSON_ANSWER, JSON_ANSWER),
    (STREAM_WITH_USAGE, STREAM_WITH_USAGE),
    (JSON_ANSWER, STREAM),
    (STREAM, JSON_ANSWER),
]


def _question(model: str, *, tools: bool) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": f"contract question {uuid.uuid4().hex}"}],
    }
    if tools:
        body["tools"] = [TOOL]
    return body


def _answer_text(exchange: Exchange, ask: str) -> str:
    """What the answer says (text and tool-call arguments), however it was delivered."""
    if ask == JSON_ANSWER:
        message = exchange.json()["choices"][0]["message"]
        calls = message.get("tool_calls") or []
        return (message["content"] or "") + "".join(c["function"]["arguments"] for c in calls)
    said = []
    for event in exchange.events()[:-1]:
        for choice in json.loads(event)["choices"]:
            said.append(choice["delta"].get("content") or "")
            said += [
                c.get("function", {}).get("arguments", "") for c in choice["delta"].get("tool_calls") or []
            ]
    return "".join(said)


def assert_answer_conforms(exchange: Exchange, ask: str) -> None:
    assert exchange.status == 200, exchange.raw[:500]
    if ask == JSON_ANSWER:
        assert exchange.headers["content-type"].startswith("application/json")
        assert_conforms(RESPONSE, exchange.json())
        return
    assert exchange.headers["content-type"].startswith("text/event-stream")
    events = exchange.events()
    assert events[-1] == "[DONE]" and "[DONE]" not in events[:-1]
    chunks = [json.loads(event) for event in events[:-1]]
    assert chunks, "a stream with no chunk"
    for chunk in chunks:
        assert_conforms(CHUNK, chunk)
    assert len({chunk["id"] for chunk in chunks}) == 1, "every chunk of one completion shares its id"
    with_usage = [chunk for chunk in chunks if chunk.get("usage") is not None]
    if ask == STREAM_WITH_USAGE:
        assert with_usage == [chunks[-1]] and chunks[-1]["choices"] == []
    else:
        assert with_usage == []


def assert_error_conforms(exchange: Exchange, status: int, code: str) -> dict[str, Any]:
    assert exchange.status == status, exchange.raw[:500]
    assert exchange.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = exchange.json()
    assert_conforms(ERROR, body)
    assert body["error"]["code"] == code, body
    return body


def test_the_schemas_name_their_source_and_are_closed_under_ref() -> None:
    schema = document()
    source = schema["x-source"]
    assert source["repository"] == "openai/openai-openapi" and source["file"]
    assert re.fullmatch(r"[0-9a-f]{40}", source["commit"])
    Draft202012Validator.check_schema(schema)
    refs = set(re.findall(r'"\$ref": "#/\$defs/([^"]+)"', json.dumps(schema)))
    assert refs <= set(schema["$defs"]), refs - set(schema["$defs"])
    assert {REQUEST, RESPONSE, CHUNK, ERROR} <= set(schema["$defs"])
    assert "nullable" not in json.dumps(schema["$defs"]).replace('"nullable":', "")  # converted


def test_the_schemas_tell_a_good_answer_from_a_broken_one() -> None:
    good: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "alpha",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "hi", "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
    }
    assert violations(RESPONSE, good) == []
    assert violations(RESPONSE, {**good, "choices": [{**good["choices"][0], "finish_reason": "done"}]})
    assert violations(CHUNK, {**good, "object": "chat.completion.chunk"})  # a chunk has deltas
    assert violations(ERROR, {"error": {"message": "x", "type": "y", "code": None}})  # param is required


# ---- the origin ----------------------------------------------------------------------------------


@pytest.mark.parametrize("tools", [False, True], ids=["text", "tool-call"])
@pytest.mark.parametrize(("miss", "hit"), MISS_THEN_HIT)
@pytest.mark.parametrize("model", MODELS)
async def test_origin_answers_conform_fresh_and_from_the_exact_cache(
    origin: RunningOrigin, api_key: str, model: str, miss: str, hit: str, tools: bool
) -> None:
    question = _question(model, tools=tools)
    fresh = await post_chat(origin.url, api_key, question | ASK[miss])
    assert_answer_conforms(fresh, miss)
    assert fresh.headers["x-prism-cache"] == "miss"
    cached = await post_chat(origin.url, api_key, question | ASK[hit])
    assert_answer_conforms(cached, hit)
    assert cached.headers["x-prism-cache"] == "hit-exact"
    assert _answer_text(cached, hit) == _answer_text(fresh, miss)


async def _budgeted_out_key(origin: RunningOrigin, pool: postgres.Pool) -> str:
    key, record = await postgres.create_key(
        pool,
        project=f"contract-{uuid.uuid4().hex[:8]}",
        org="contract",
        pepper=origin.state.settings.key_pepper,
    )
    await controls.set_budget(pool, record.project_id, Decimal("0.000001"))
    return key


TOO_LARGE: Final = (
    b'{"model": "alpha", "messages": [{"role": "user", "content": "' + b"x" * (5 << 20) + b'"}]}'
)


async def test_origin_error_bodies_conform(
    origin: RunningOrigin, api_key: str, pool: postgres.Pool, fake: FakeProvider
) -> None:
    hello = _question(OPENAI_KIND, tools=False)
    url = origin.url
    assert_error_conforms(await post_chat(url, api_key, None, raw=b"{not json"), 400, "invalid_json")
    assert_error_conforms(await post_chat(url, api_key, hello | {"n": 1.5}), 400, "invalid_type")
    assert_error_conforms(await post_chat(url, BAD_KEY, hello), 401, "invalid_api_key")
    assert_error_conforms(await post_chat(url, None, hello), 401, "missing_api_key")
    assert_error_conforms(await post_chat(url, api_key, hello | {"model": "gpt-99"}), 404, "model_not_found")
    assert_error_conforms(await post_chat(url, api_key, None, raw=TOO_LARGE), 413, "request_too_large")
    budgeted_out = await _budgeted_out_key(origin, pool)
    assert_error_conforms(await post_chat(url, budgeted_out, hello), 429, "budget_exceeded")
    assert_error_conforms(await post_chat(url, api_key, hello | {"model": "dead"}), 502, "upstream_error")
    origin.state.breakers.record_success("dead")
    for fail_status, status, code in ((500, 502, "upstream_error"), (429, 503, "upstream_rate_limited")):
        fake.configure("lonely", Behaviour(fail_times=9, fail_status=fail_status))
        assert_error_conforms(await post_chat(url, api_key, hello | {"model": "lonely"}), status, code)
        origin.state.breakers.record_success("lonely")


@pytest.mark.parametrize("model", MODELS)
async def test_an_error_after_the_first_chunk_is_an_error_event_that_conforms(
    origin: RunningOrigin, api_key: str, fake: FakeProvider, model: str
) -> None:
    upstream_model = "claude-up" if model == ANTHROPIC_KIND else model
    fake.configure(upstream_model, Behaviour(error_event_after_chunks=1))
    stream = await post_chat(origin.url, api_key, _question(model, tools=False) | ASK[STREAM_WITH_USAGE])
    assert stream.status == 200
    *chunks, error = [json.loads(event) for event in stream.events()]
    assert chunks, "the error came after the first chunk"
    for chunk in chunks:
        assert_conforms(CHUNK, chunk)
    assert_conforms(ERROR, error)


# ---- requests the schema refuses -----------------------------------------------------------------

# Conforming requests holding the parents of every field below; each case changes one field.
VALID: Final[dict[str, dict[str, Any]]] = {
    model: {
        "model": model,
        "messages": [{"role": "user", "content": "a valid question"}],
        "stream_options": {"include_usage": True},
        "tools": [TOOL],
    }
    for model in MODELS
}
# The fields both tiers check before any provider sees the request.
CHECKED_FIELDS: Final = (
    "model",
    "messages",
    "messages[0]",
    "messages[0].role",
    "messages[0].content",
    "stream",
    "stream_options",
    "stream_options.include_usage",
    "max_tokens",
    "max_completion_tokens",
    "n",
    "temperature",
    "top_p",
    "tools",
    "tools[0]",
    "tools[0].type",
    "tools[0].function",
    "tools[0].function.name",
    "stop",
    "response_format",
)
# The fields the Anthropic adapter reads as well (an OpenAI-kind upstream judges them itself).
ANTHROPIC_FIELDS: Final = (
    "tool_choice",
    "parallel_tool_calls",
    "user",
    "metadata",
    "store",
    "prompt_cache_key",
    "safety_identifier",
    "service_tier",
    "prediction",
    "frequency_penalty",
    "presence_penalty",
    "logprobs",
    "logit_bias",
)
FIELDS_BY_MODEL: Final = [(OPENAI_KIND, f) for f in CHECKED_FIELDS] + [
    (ANTHROPIC_KIND, f) for f in CHECKED_FIELDS + ANTHROPIC_FIELDS
]


def test_the_valid_requests_conform() -> None:
    for body in VALID.values():
        assert_conforms(REQUEST, body)


def _names(param: str | None, field: str) -> bool:
    """``param`` is ``field`` or a field inside it (``messages: [7]`` is the fault of ``messages[0]``)."""
    return param is not None and (param == field or param.startswith((field + ".", field + "[")))


async def _refusals_that_miss(base_url: str, key: str, model: str, field: str) -> list[str]:
    """Each value the schema refuses at ``field`` that Prism does not answer with a 400 naming it."""
    misses = []
    values = list(rejected_values(VALID[model], field))
    assert values, f"the schema refuses no candidate value at {field}"
    for value in values:
        exchange = await post_chat(base_url, key, with_value(VALID[model], field, value))
        body = exchange.json()
        if exchange.status == 400 and not violations(ERROR, body) and _names(body["error"]["param"], field):
            continue
        misses.append(f"{field}={json.dumps(value)}: {exchange.status} {exchange.raw[:200]!r}")
    return misses


@pytest.mark.parametrize(("model", "field"), FIELDS_BY_MODEL)
async def test_origin_refuses_what_the_request_schema_refuses_naming_the_field(
    origin: RunningOrigin, api_key: str, model: str, field: str
) -> None:
    assert await _refusals_that_miss(origin.url, api_key, model, field) == []


# ---- the edge ------------------------------------------------------------------------------------


@needs_node
@pytest.mark.parametrize(
    ("miss", "hit", "tools"),
    [(m, h, False) for m, h in MISS_THEN_HIT] + [(JSON_ANSWER, STREAM_WITH_USAGE, True)],
)
@pytest.mark.parametrize("model", MODELS)
async def test_edge_answers_conform_passed_through_and_from_workers_kv(
    topology: Topology, model: str, miss: str, hit: str, tools: bool
) -> None:
    key, _ = await topology.key()
    question = _question(model, tools=tools)
    fresh = await post_chat(topology.edge.url, key, question | ASK[miss])
    assert_answer_conforms(fresh, miss)
    assert fresh.headers["x-prism-edge-cache"] == "passthrough"
    await topology.origin.state.kv.flush()
    cached = await post_chat(topology.edge.url, key, question | ASK[hit])
    assert_answer_conforms(cached, hit)
    assert cached.headers["x-prism-edge-cache"] == "hit"
    assert _answer_text(cached, hit) == _answer_text(fresh, miss)


@needs_node
async def test_edge_error_bodies_conform(topology: Topology) -> None:
    key, _ = await topology.key()
    budgeted_out, record = await topology.key()  # budgeted before its first request is read
    await controls.set_budget(topology.pool, record.project_id, Decimal("0.000001"))
    url, hello = topology.edge.url, _question(OPENAI_KIND, tools=False)
    rejected = await post_chat(url, BAD_KEY, hello)
    assert_error_conforms(rejected, 401, "invalid_api_key")
    assert rejected.headers["x-prism-edge-cache"] == "auth-reject"
    assert_error_conforms(await post_chat(url, None, hello), 401, "missing_api_key")
    assert_error_conforms(await post_chat(url, key, None, raw=b"{not json"), 400, "invalid_json")
    assert_error_conforms(await post_chat(url, key, hello | {"n": 1.5}), 400, "invalid_type")
    assert_error_conforms(await post_chat(url, key, hello | {"model": "gpt-99"}), 404, "model_not_found")
    assert_error_conforms(await post_chat(url, key, None, raw=TOO_LARGE), 413, "request_too_large")
    assert_error_conforms(await post_chat(url, key, hello | {"model": "dead"}), 502, "upstream_error")
    topology.origin.state.breakers.record_success("dead")
    assert_error_conforms(await post_chat(url, budgeted_out, hello), 429, "budget_exceeded")


@needs_node
@pytest.mark.parametrize("field", CHECKED_FIELDS)
async def test_edge_refuses_what_the_request_schema_refuses_naming_the_field(
    topology: Topology, field: str
) -> None:
    key, _ = await topology.key()
    assert await _refusals_that_miss(topology.edge.url, key, OPENAI_KIND, field) == []
