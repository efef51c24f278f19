"""Every path through ``edge.handler.handle``, driven with the in-memory runtime."""

import json
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest

from edge import cache, handler
from edge.handler import handle
from edge.ingest import Delivery
from edge.outbox import LINGER_SECONDS, Outbox
from edge.runtime import Answer, Forward
from shared import headers as h
from shared.edge_forwarded import forwarded_region
from shared.edgekv import cache_name
from shared.embeddings_body import FINGERPRINT_MODE as EMBEDDINGS_MODE
from shared.fingerprint import fingerprint
from shared.mode import parse_mode
from shared.replay import DONE
from shared.usage import UsageRow
from tests.edge.fakes import (
    COMPLETION,
    ENTRY,
    GRANT,
    KEY,
    ORIGIN,
    OTHER_KEY,
    SECRET,
    START,
    FakeClock,
    MemoryKV,
    Scheduler,
    ScriptedPoster,
    make_env,
    make_request,
    store_entry,
    store_grant,
)

BODY: dict[str, Any] = {"model": "auto", "messages": [{"role": "user", "content": "Hi"}], "temperature": 0}
AUTH = {"Authorization": f"Bearer {KEY}"}


class Edge:
    """One KV, clock, poster and scheduler; ``call`` runs the handler on a request."""

    def __init__(self) -> None:
        self.kv = MemoryKV()
        self.clock = FakeClock()
        self.poster = ScriptedPoster(self.clock)
        self.scheduler = Scheduler()
        self.key_hash = store_grant(self.kv)
        self.outbox = Outbox()  # the isolate's: its calls' rows share batches
        self.reads = 0

    def store(
        self, body: dict[str, Any] = BODY, *, mode: str | None = None, prefer: str | None = None
    ) -> str:
        fp = fingerprint(GRANT.project_id, body, mode=mode, model_prefer=prefer)
        store_entry(self.kv, fp)
        return fp

    async def call(
        self,
        method: str = "POST",
        path: str = "/v1/chat/completions",
        *,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | bytes | None = None,
        colo: str | None = "SIN",
        **env: Any,
    ) -> Answer | Forward:
        raw = body if isinstance(body, bytes) else json.dumps(BODY if body is None else body).encode()
        request, reader = make_request(
            method, path, headers=AUTH if headers is None else headers, body=raw, colo=colo
        )
        result = await handle(
            request,
            make_env(self.kv, **env),
            self.scheduler,
            poster=self.poster,
            clock=self.clock,
            sleep=self.clock.sleep,
            jitter=lambda: 0.5,
            outbox=self.outbox,
        )
        self.reads = reader.reads
        return result

    async def rows(self) -> list[dict[str, Any]]:
        await self.scheduler.run()
        envelopes = []
        for post in self.poster.posts:
            body = json.loads(post.body)
            envelopes += body.get("rows", [body])
        return envelopes


@pytest.fixture
def edge() -> Iterator[Edge]:
    edge = Edge()
    yield edge
    edge.scheduler.discard()


def _answer(result: Answer | Forward) -> Answer:
    assert isinstance(result, Answer), result
    return result


def _forwarded(result: Answer | Forward, path: str = "/v1/chat/completions", region: str = "SIN") -> None:
    """Forwarded as it came, with the PoP named to the client and vouched for to the origin."""
    assert isinstance(result, Forward), result
    assert (result.url, result.response_headers) == (
        ORIGIN + path,
        {h.EDGE_CACHE: "passthrough", h.EDGE_REGION: region},
    )
    assert set(result.request_headers) == {h.EDGE_FORWARDED}
    assert forwarded_region(result.request_headers[h.EDGE_FORWARDED], SECRET, now=START + 60) == region


def _error(answer: Answer) -> dict[str, Any]:
    assert answer.headers["content-type"] == "application/json"
    error: dict[str, Any] = json.loads(answer.body)["error"]
    assert set(error) == {"message", "type", "code", "param"}
    return error


# --- auth-reject -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({}, "missing_api_key", "Missing API key: send 'Authorization: Bearer <your Prism key>'."),
        ({"Authorization": "Basic abc"}, "missing_api_key", None),
        ({"Authorization": "Bearer sk-openai-key"}, "invalid_api_key", "Malformed API key"),
        ({"Authorization": f"Bearer {OTHER_KEY}"}, "invalid_api_key", "Invalid API key."),
    ],
)
async def test_bad_keys_are_rejected_at_the_edge(
    edge: Edge, headers: dict[str, str], code: str, message: str | None
) -> None:
    answer = _answer(await edge.call(headers=headers))
    assert answer.status == 401
    assert answer.headers[h.EDGE_CACHE] == "auth-reject"
    assert answer.headers[h.EDGE_REGION] == "SIN"
    error = _error(answer)
    assert (error["type"], error["code"], error["param"]) == ("authentication_error", code, None)
    if message:
        assert error["message"].startswith(message)
    assert edge.reads == 0 and not edge.scheduler.pending


async def test_revoked_key_is_rejected(edge: Edge) -> None:
    store_grant(edge.kv, replace(GRANT, active=False))
    answer = _answer(await edge.call())
    assert answer.status == 401
    assert _error(answer)["code"] == "revoked_api_key"


async def test_an_expired_key_is_rejected_at_the_edge(edge: Edge) -> None:
    edge.store()
    store_grant(edge.kv, replace(GRANT, expires_at=edge.clock.now))
    answer = _answer(await edge.call())
    assert (answer.status, answer.headers[h.EDGE_CACHE]) == (401, "auth-reject")
    assert _error(answer)["code"] == "key_expired" and not edge.scheduler.pending
    store_grant(edge.kv, replace(GRANT, expires_at=edge.clock.now + 3600))
    assert _answer(await edge.call()).status == 200


async def test_a_hit_of_a_model_the_key_may_not_use_is_forwarded(edge: Edge) -> None:
    edge.store()
    store_grant(edge.kv, replace(GRANT, models=("beta*",)))
    _forwarded(await edge.call())  # the origin refuses it, naming the key's models
    store_grant(edge.kv, replace(GRANT, models=("ALPHA-*",)))
    assert _answer(await edge.call()).headers[h.EDGE_CACHE] == "hit"


@pytest.mark.parametrize("stored", ["{not json", "[]", '{"key_id": "k"}'])
async def test_malformed_grant_reads_as_unknown(edge: Edge, stored: str) -> None:
    edge.kv.data = {key: (stored if key.startswith("key:") else value) for key, value in edge.kv.data.items()}
    answer = _answer(await edge.call())
    assert (answer.status, _error(answer)["code"]) == (401, "invalid_api_key")


async def test_other_api_paths_need_a_key_too(edge: Edge) -> None:
    answer = _answer(await edge.call("GET", "/v1/models", headers={"Authorization": f"Bearer {OTHER_KEY}"}))
    assert answer.status == 401
    _forwarded(await edge.call("GET", "/v1/models"), "/v1/models")
    assert edge.reads == 0


async def test_anthropic_clients_authenticate_with_x_api_key_and_get_anthropic_errors(edge: Edge) -> None:
    messages = {"model": "claude", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
    _forwarded(
        await edge.call(path="/v1/messages", headers={"x-api-key": KEY}, body=messages), "/v1/messages"
    )
    for headers in ({"x-api-key": OTHER_KEY}, {}):
        answer = _answer(await edge.call(path="/v1/messages/count_tokens", headers=headers, body=messages))
        assert answer.status == 401 and answer.headers[h.EDGE_CACHE] == "auth-reject"
        refused = json.loads(answer.body)
        assert refused["type"] == "error" and refused["error"]["type"] == "authentication_error"
    chat = _answer(await edge.call(headers={"x-api-key": OTHER_KEY}))  # the same key, OpenAI's path
    assert _error(chat)["code"] == "invalid_api_key"


async def test_health_and_other_paths_go_through_without_auth(edge: Edge) -> None:
    for path in ("/healthz", "/readyz", "/internal/usage", "/v1beta"):
        _forwarded(await edge.call("GET", path, headers={}), path)
    _forwarded(await edge.call("OPTIONS", headers={}))  # CORS preflight: never carries a key
    assert edge.kv.gets == []


async def test_kv_down_fails_open_to_the_origin(edge: Edge) -> None:
    edge.kv.fail_get = True
    _forwarded(await edge.call())
    assert edge.reads == 0


# --- exact-cache hits ---------------------------------------------------------------------------


async def test_json_hit_is_served_from_the_edge(edge: Edge) -> None:
    edge.store()
    answer = _answer(await edge.call(headers={**AUTH, "X-Prism-Tags": "feature=search"}))
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers[h.EDGE_CACHE] == "hit"
    assert answer.headers[h.EDGE_REGION] == "SIN"
    assert answer.headers[h.CACHE] == "hit-exact-edge"
    assert answer.headers[h.MODEL] == "alpha-1"
    assert answer.headers[h.PROVIDER] == "cache"
    completion = json.loads(answer.body)
    assert completion["id"].startswith("chatcmpl-") and completion["id"] != COMPLETION["id"]
    assert {k: v for k, v in completion.items() if k not in ("id", "created")} == {
        k: v for k, v in COMPLETION.items() if k not in ("id", "created")
    }
    [row] = await edge.rows()
    assert row["row"]["request_id"] == answer.headers[h.REQUEST_ID]
    assert row["row"]["request_tags"] == {"feature": "search"}
    assert answer.headers[h.COST_CENTS] == "0.000000"
    assert answer.headers[h.SAVED_CENTS] == f"{row['row']['cache_saved_cents']:.6f}" != "0.000000"


@pytest.mark.parametrize("include_usage", [True, False])
async def test_streaming_hit_is_replayed_as_sse(edge: Edge, include_usage: bool) -> None:
    edge.store()
    body = {**BODY, "stream": True, "stream_options": {"include_usage": include_usage}}
    answer = _answer(await edge.call(body=body))
    assert answer.status == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert answer.headers[h.EDGE_CACHE] == "hit" and answer.headers[h.CACHE] == "hit-exact-edge"
    assert answer.body.endswith(DONE)
    events = [
        json.loads(line[6:]) for line in answer.body.decode().split("\n\n") if line.startswith("data: {")
    ]
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events if e["choices"])
    assert text == "Hello from the cache"
    assert any("usage" in event for event in events) is include_usage
    assert any("prism" in event for event in events) is include_usage
    assert b"\n\n: prism cost_cents=0.000000 saved_cents=" in answer.body
    [row] = await edge.rows()
    assert row["row"]["was_streaming"] is True


async def test_fingerprint_matches_the_origins_for_mode_and_prefer(edge: Edge) -> None:
    mode_header, prefer_header = " Cheap ", "  beta-2 "
    fp = edge.store(mode=parse_mode(mode_header), prefer=prefer_header.strip())
    headers = {**AUTH, h.MODE: mode_header, h.MODEL_PREFER: prefer_header}
    answer = _answer(await edge.call(headers=headers, body={**BODY, "user": "u-1", "stream": False}))
    assert answer.status == 200
    assert edge.kv.gets[-1] == cache_name(fp)
    [row] = await edge.rows()
    assert row["row"]["mode"] == "cheap"


async def test_default_mode_is_balanced(edge: Edge) -> None:
    edge.store(mode="balanced")
    assert _answer(await edge.call(headers={**AUTH, h.MODE: ""})).status == 200


async def test_region_falls_back_to_the_configured_default(edge: Edge) -> None:
    edge.store()
    answer = _answer(await edge.call(colo=None, default_region="DEV"))
    assert answer.headers[h.EDGE_REGION] == "DEV"
    answer = _answer(await edge.call(colo=None))
    assert h.EDGE_REGION not in answer.headers
    assert [row["row"]["edge_region"] for row in await edge.rows()] == ["DEV", None]


# --- forwarded ---------------------------------------------------------------------------------


async def test_miss_is_forwarded_with_the_query(edge: Edge) -> None:
    result = await edge.call(path="/v1/chat/completions?trace=1&x=%20y")
    _forwarded(result, "/v1/chat/completions?trace=1&x=%20y")
    assert edge.reads == 1 and not edge.scheduler.pending


async def test_a_forward_from_no_known_pop_vouches_for_none(edge: Edge) -> None:
    for region in (None, "not.a.pop", "Zürich"):
        result = await edge.call(colo=None, default_region=region)
        assert isinstance(result, Forward) and result.request_headers == {}


async def test_the_forwarding_stamp_is_signed_for_the_time_it_was_made(edge: Edge) -> None:
    result = await edge.call(colo="FRA")
    assert isinstance(result, Forward)
    value = result.request_headers[h.EDGE_FORWARDED]
    assert forwarded_region(value, SECRET, now=START) == "FRA"
    assert forwarded_region(value, SECRET, now=START + 301) is None
    assert forwarded_region(value, "another-secret", now=START) is None
    assert forwarded_region(value.replace("FRA", "SIN", 1), SECRET, now=START) is None


async def test_key_without_edge_cache_permission_is_forwarded_unread(edge: Edge) -> None:
    edge.store()
    store_grant(edge.kv, replace(GRANT, edge_cache=False))
    _forwarded(await edge.call())
    assert edge.reads == 0


async def test_an_entry_made_under_other_controls_is_forwarded(edge: Edge) -> None:
    fp = edge.store()
    store_entry(edge.kv, fp, replace(ENTRY, generation="gen-0"))
    _forwarded(await edge.call())
    assert not edge.scheduler.pending  # the origin answers, and records the row


async def test_entries_and_grants_without_a_generation_are_never_served(edge: Edge) -> None:
    fp = edge.store()
    legacy = {name: value for name, value in json.loads(ENTRY.to_json()).items() if name != "generation"}
    edge.kv.data[cache_name(fp)] = json.dumps(legacy)
    _forwarded(await edge.call())
    store_entry(edge.kv, fp)
    assert _answer(await edge.call()).status == 200  # the same grant, an entry of its generation
    store_grant(edge.kv, replace(GRANT, generation=""))
    store_entry(edge.kv, fp, replace(ENTRY, generation=""))
    _forwarded(await edge.call())


@pytest.mark.parametrize("value", ["no-store", "no-cache", "max-age=0, No-Cache", " NO-STORE "])
async def test_cache_control_opt_outs_are_forwarded(edge: Edge, value: str) -> None:
    edge.store()
    _forwarded(await edge.call(headers={**AUTH, "Cache-Control": value}))
    assert edge.reads == 0


async def test_unrelated_cache_control_still_hits(edge: Edge) -> None:
    edge.store()
    assert _answer(await edge.call(headers={**AUTH, "Cache-Control": "max-age=60"})).status == 200


@pytest.mark.parametrize("memory", [None, "auto", " AUTO "])
async def test_session_with_memory_is_forwarded(edge: Edge, memory: str | None) -> None:
    edge.store()
    headers = {**AUTH, h.SESSION: "conv-1"} | ({h.MEMORY: memory} if memory is not None else {})
    _forwarded(await edge.call(headers=headers))
    assert edge.reads == 0


async def test_session_with_memory_off_hits_and_records_the_session(edge: Edge) -> None:
    edge.store()
    answer = _answer(await edge.call(headers={**AUTH, h.SESSION: "  conv-42 ", h.MEMORY: "OFF"}))
    assert answer.status == 200
    [row] = await edge.rows()
    assert row["row"]["session_id"] == "conv-42"


@pytest.mark.parametrize("memory", [None, "auto"])
async def test_a_session_hits_when_its_project_keeps_no_memory(edge: Edge, memory: str | None) -> None:
    edge.store()
    store_grant(edge.kv, replace(GRANT, session_memory=False))
    headers = {**AUTH, h.SESSION: "conv-7"} | ({h.MEMORY: memory} if memory is not None else {})
    assert _answer(await edge.call(headers=headers)).status == 200
    [row] = await edge.rows()
    assert (row["row"]["session_id"], row["row"]["cache_status"]) == ("conv-7", "hit-exact-edge")


@pytest.mark.parametrize(
    ("name", "value", "code"),
    [
        (h.MEMORY, "sometimes", "invalid_memory_header"),
        (h.MODE, "fastest", "invalid_mode_header"),
        (h.MODEL_PREFER, "has space", "invalid_model_prefer_header"),
        (h.CACHE_TTL, "0", "invalid_cache_ttl_header"),
        (h.CACHE_TTL, "ten", "invalid_cache_ttl_header"),
        (h.CACHE_TTL, str(7 * 24 * 3600 + 1), "invalid_cache_ttl_header"),
        (h.SEMANTIC, "bogus", "invalid_semantic_header"),
        (h.SESSION, "x" * 200, "invalid_session_header"),
    ],
)
@pytest.mark.parametrize("stored", [True, False])
async def test_headers_the_origin_refuses_are_refused_here_alike(
    edge: Edge, name: str, value: str, code: str, stored: bool
) -> None:
    if stored:
        edge.store()
    answer = _answer(await edge.call(headers={**AUTH, name: value}))
    error = _error(answer)
    assert (answer.status, error["code"], error["param"]) == (400, code, name)
    assert edge.reads == 0
    [envelope] = await edge.rows()
    row = UsageRow.from_dict(envelope["row"])
    assert (row.status_code, row.error_code, row.request_tags) == (400, code, None)


async def test_invalid_session_on_a_hit_is_a_400_with_a_row(edge: Edge) -> None:
    edge.store()
    answer = _answer(await edge.call(headers={**AUTH, h.SESSION: "has space", h.MEMORY: "off"}))
    assert answer.status == 400
    error = _error(answer)
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "invalid_session_header",
        h.SESSION,
    )
    assert answer.headers[h.EDGE_CACHE] == "hit"
    [envelope] = await edge.rows()
    row = UsageRow.from_dict(envelope["row"])
    assert (row.success, row.status_code, row.error_code) == (False, 400, "invalid_session_header")
    assert row.request_id == answer.headers[h.REQUEST_ID]
    assert (row.tokens_in, row.cache_saved_cents, row.session_id) == (0, 0.0, None)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{not json",
        b"[1, 2]",
        b'{"model": "auto"}',
        b'{"model": "auto", "messages": []}',
        b'{"model": "auto", "messages": "hi"}',
        b'{"messages": [{"role": "user", "content": "Hi"}], "temperature": NaN}',
        b'{"messages": [{"role": "user", "content": "Hi"}], "stream": "yes"}',
        b'{"messages": [{"role": "user", "content": "Hi"}], "stream_options": true}',
        b'{"messages": [{"role": "user", "content": "Hi"}], "stream_options": {"include_usage": ""}}',
        b'{"messages": [{"role": ["user"], "content": "Hi"}]}',
        b'{"messages": [{"role": "user", "content": "Hi"}], "logit_bias": {"1": 1e999}}',
        b'{"messages": [{"role": "user", "content": "\\ud800"}]}',
        b'{"messages": [{"role": "user", "content": "Hi"}], "x": ' + b"[" * 600 + b"]" * 600 + b"}",
    ],
)
async def test_bodies_the_origin_must_judge_are_forwarded(edge: Edge, body: bytes) -> None:
    _forwarded(await edge.call(body=body))


async def test_invalid_stream_flag_never_hits_even_with_a_matching_entry(edge: Edge) -> None:
    edge.store()  # "stream" is not part of the fingerprint, so the lookup would match
    _forwarded(await edge.call(body={**BODY, "stream": "yes"}))


async def test_oversized_bodies_are_forwarded(edge: Edge) -> None:
    edge.store()
    _forwarded(await edge.call(max_body_bytes=10))
    assert edge.reads == 1
    _forwarded(await edge.call(headers={**AUTH, "Content-Length": "999999"}, max_body_bytes=1000))
    assert edge.reads == 0


async def test_a_content_type_the_origin_refuses_is_forwarded(edge: Edge) -> None:
    edge.store()
    _forwarded(await edge.call(headers={**AUTH, "Content-Type": "text/plain"}))
    assert edge.reads == 0


async def test_acceptable_ttl_and_json_content_types_still_hit(edge: Edge) -> None:
    edge.store()
    headers = {**AUTH, h.CACHE_TTL: "600", "Content-Type": "application/json; charset=utf-8"}
    assert _answer(await edge.call(headers=headers)).status == 200


async def test_other_methods_on_the_chat_path_are_forwarded(edge: Edge) -> None:
    edge.store()
    _forwarded(await edge.call("GET"))


@pytest.mark.parametrize(
    "stored",
    [
        "{broken",
        json.dumps({**json.loads(ENTRY.to_json()), "tokens_in": -1}),
        json.dumps({**json.loads(ENTRY.to_json()), "cost_cents": "free"}),
        json.dumps({**json.loads(ENTRY.to_json()), "response": {"choices": [{"index": 0}]}}),
    ],
)
async def test_malformed_entries_are_forwarded(edge: Edge, stored: str) -> None:
    fp = edge.store()
    edge.kv.data[cache_name(fp)] = stored
    _forwarded(await edge.call())
    assert not edge.scheduler.pending


async def test_unreadable_cache_entry_is_forwarded(edge: Edge) -> None:
    edge.store()
    calls = 0
    original_get = edge.kv.get

    async def flaky_get(name: str) -> str | None:
        nonlocal calls
        calls += 1
        if name.startswith("cache:"):
            raise ConnectionError("KV unavailable")
        return await original_get(name)

    edge.kv.get = flaky_get  # type: ignore[method-assign]
    _forwarded(await edge.call())
    assert calls == 2


async def test_unexpected_errors_fail_open(edge: Edge, monkeypatch: pytest.MonkeyPatch) -> None:
    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("bug")

    monkeypatch.setattr(cache, "lookup", explode)
    _forwarded(await edge.call())


async def test_hit_usage_is_delivered_after_the_response(edge: Edge) -> None:
    edge.store()
    await edge.call()
    assert edge.poster.posts == []  # nothing is sent before the runtime runs waitUntil work
    assert await edge.scheduler.run() == [[Delivery.DELIVERED]]
    assert [post.url for post in edge.poster.posts] == [f"{ORIGIN}/internal/usage"]


async def test_the_rows_of_an_isolates_hits_go_to_the_origin_together(edge: Edge) -> None:
    edge.store()
    answers = [_answer(await edge.call()) for _ in range(3)]
    assert len(edge.scheduler.pending) == 1  # the first hit's waitUntil sends them all
    assert await edge.scheduler.run() == [[Delivery.DELIVERED] * 3]
    [post] = edge.poster.posts
    sent = [envelope["row"]["request_id"] for envelope in json.loads(post.body)["rows"]]
    assert sent == [answer.headers[h.REQUEST_ID] for answer in answers]
    assert edge.clock.sleeps == [LINGER_SECONDS]


def test_origin_unreachable_is_an_openai_502_with_the_edge_headers() -> None:
    forward = Forward("https://o/v1/models", {h.EDGE_CACHE: "passthrough", h.EDGE_REGION: "SIN"})
    answer = handler.origin_unreachable(forward)
    assert answer.status == 502
    assert answer.headers[h.EDGE_CACHE] == "passthrough"
    assert _error(answer)["code"] == "upstream_error"


# --- embeddings ---------------------------------------------------------------------------------

EMBED_BODY: dict[str, Any] = {"model": "embed-small", "input": ["one", "two"], "encoding_format": "float"}
EMBEDDINGS: dict[str, Any] = {
    "object": "list",
    "data": [
        {"object": "embedding", "index": 0, "embedding": [0.25, -0.5]},
        {"object": "embedding", "index": 1, "embedding": [0.125, 1.0]},
    ],
    "model": "fake-embed",
    "usage": {"prompt_tokens": 4, "total_tokens": 4},
}


def _store_embeddings(edge: Edge, body: dict[str, Any] = EMBED_BODY, response: Any = EMBEDDINGS) -> str:
    fp = fingerprint(GRANT.project_id, body, mode=EMBEDDINGS_MODE)
    entry = replace(
        ENTRY, response=response, model="embed-small", tokens_in=4, tokens_out=0, tokens_cached_in=0
    )
    store_entry(edge.kv, fp, entry)
    return fp


async def test_an_embeddings_hit_is_served_as_stored_with_its_row(edge: Edge) -> None:
    _store_embeddings(edge)
    headers = {**AUTH, "X-Prism-Mode": "cheap", "X-Prism-Session": "s-1", "X-Prism-Memory": "off"}
    answer = _answer(await edge.call(path="/v1/embeddings", body=EMBED_BODY, headers=headers))
    assert (answer.status, answer.headers[h.CACHE], answer.headers[h.MODEL]) == (
        200,
        "hit-exact-edge",
        "embed-small",
    )
    assert json.loads(answer.body) == EMBEDDINGS  # no identity to refresh: the answer as it was stored
    [row] = await edge.rows()
    assert row["row"]["task_type"] == "embedding" and row["row"]["session_id"] == "s-1"
    assert (row["row"]["tokens_in"], row["row"]["tokens_out"], row["row"]["was_streaming"]) == (4, 0, False)


async def test_an_embeddings_body_is_its_own_answer(edge: Edge) -> None:
    _store_embeddings(edge)
    base64 = {**EMBED_BODY, "encoding_format": "base64"}
    _forwarded(await edge.call(path="/v1/embeddings", body=base64), path="/v1/embeddings")
    # the same input asked of chat never finds the embedding, nor an embedding a chat answer
    chat = {"model": "embed-small", "messages": [{"role": "user", "content": "one"}]}
    _forwarded(await edge.call(body=chat))
    edge.store(chat)
    _forwarded(
        await edge.call(path="/v1/embeddings", body=EMBED_BODY | {"input": "one"}), path="/v1/embeddings"
    )


@pytest.mark.parametrize(
    "body",
    [
        {"model": "embed-small", "input": ""},
        {"model": "embed-small", "input": ["one"], "dimensions": 0},
        {"model": "embed-small", "input": ["one"], "encoding_format": "int8"},
        {"input": ["one"]},
    ],
)
async def test_embeddings_bodies_the_origin_must_judge_are_forwarded(
    edge: Edge, body: dict[str, Any]
) -> None:
    _store_embeddings(edge, body)
    _forwarded(await edge.call(path="/v1/embeddings", body=body), path="/v1/embeddings")


@pytest.mark.parametrize(
    "response",
    [
        {"object": "list", "data": []},
        {"object": "list", "data": [{"object": "embedding", "embedding": [1.0]}]},
        {"object": "list", "data": ["not an item"]},
    ],
)
async def test_malformed_embeddings_entries_are_forwarded(edge: Edge, response: Any) -> None:
    _store_embeddings(edge, response=response)
    _forwarded(await edge.call(path="/v1/embeddings", body=EMBED_BODY), path="/v1/embeddings")
    assert not edge.scheduler.pending


async def test_embeddings_without_edge_cache_or_with_no_store_are_forwarded(edge: Edge) -> None:
    _store_embeddings(edge)
    no_store = {**AUTH, "Cache-Control": "no-store"}
    _forwarded(
        await edge.call(path="/v1/embeddings", body=EMBED_BODY, headers=no_store), path="/v1/embeddings"
    )
    store_grant(edge.kv, replace(GRANT, edge_cache=False))
    _forwarded(await edge.call(path="/v1/embeddings", body=EMBED_BODY), path="/v1/embeddings")
