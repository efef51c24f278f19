"""``edge/entry.py`` under CPython, against a small fake of the ``workers`` SDK and ``js``.

The fake mirrors the SDK calls entry.py makes (``workers.Request(url, **init)``, ``workers.fetch``,
``workers.Response(body, status=, status_text=, headers=)``, ``WorkerEntrypoint(ctx, env)``,
``js.AbortSignal.timeout(ms)``); the Pyodide test runs the same module against the real SDK.
"""

import ast
import importlib
import json
import sys
import time
import types
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import edge
from shared import headers as h
from shared.edge_forwarded import forwarded_region
from shared.fingerprint import fingerprint
from shared.signing import verify
from tests.edge.fakes import GRANT, KEY, ORIGIN, PEPPER, SECRET, MemoryKV, store_entry, store_grant


class JsRequest:
    """What the runtime hands the Worker: a JS Request (only the fields entry.py reads)."""

    def __init__(
        self,
        method: str,
        url: str,
        headers: list[tuple[str, str]],
        body: bytes | None = None,
        cf: Any = None,
    ) -> None:
        self.method, self.url, self.headers, self.cf = method, url, headers, cf
        self.content = body
        self.body: Any = None if body is None else ("stream", body)


class HeaderList:
    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._pairs = pairs

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)


class FakeRequest:
    """``workers.Request``: wraps an incoming JS request, or builds an outgoing one."""

    def __init__(self, source: Any, **init: Any) -> None:
        self.init = init
        self.js_object: Any = None
        if isinstance(source, JsRequest):
            assert not init
            self.js_object = source
            self.url = source.url
        else:
            self.url = source
        self.body_reads = 0
        self.fetch_options: dict[str, Any] = {}

    @property
    def cf(self) -> Any:
        return self.js_object.cf

    @property
    def headers(self) -> HeaderList:
        return HeaderList(self.js_object.headers)

    @property
    def body(self) -> Any:
        return self.js_object.body

    async def bytes(self) -> bytes:
        self.body_reads += 1
        return self.js_object.content or b""


class FakeResponse:
    """``workers.Response`` as built by the Worker, and as returned by ``fetch``."""

    def __init__(
        self, body: Any = None, status: int | None = None, status_text: str = "", headers: Any = None
    ):
        self.body, self.status, self.status_text, self.headers_init = body, status, status_text, headers

    @property
    def headers(self) -> HeaderList:
        return HeaderList(list(self.headers_init or []))

    async def bytes(self) -> bytes:
        return b""


class Runtime:
    """The fake SDK's state: what was fetched, what fetch answers, what waitUntil got."""

    def __init__(self) -> None:
        self.fetched: list[FakeRequest] = []
        self.answer: Callable[[FakeRequest], FakeResponse] = lambda request: FakeResponse(
            ("origin-stream",),
            status=201,
            status_text="Created",
            headers=[
                ("content-type", "application/json"),
                ("x-prism-cache", "miss"),
                ("connection", "close"),
                ("transfer-encoding", "chunked"),
                ("set-cookie", "a=1"),
                ("set-cookie", "b=2"),
            ],
        )
        self.waited: list[Awaitable[Any]] = []

    async def fetch(self, request: FakeRequest, **options: Any) -> FakeResponse:
        request.fetch_options = options
        self.fetched.append(request)
        return self.answer(request)


class Ctx:
    def __init__(self, runtime: Runtime) -> None:
        self.waitUntil = runtime.waited.append


class KVNamespace:
    """The JS binding's shape: ``get(name)`` and ``put(name, value, options)``."""

    def __init__(self, kv: MemoryKV) -> None:
        self.kv = kv
        self.put_calls: list[tuple[Any, ...]] = []

    async def get(self, name: str) -> str | None:
        return await self.kv.get(name)

    async def put(self, name: str, value: str, *options: dict[str, Any]) -> None:
        self.put_calls.append((name, value, *options))
        ttl = options[0]["expirationTtl"] if options else None
        await self.kv.put(name, value, expiration_ttl=ttl)


class Bindings:
    def __init__(self, kv: MemoryKV, **extra: Any) -> None:
        self.KV = KVNamespace(kv)
        self.ORIGIN_URL = ORIGIN + "/"
        self.KEY_PEPPER = PEPPER
        self.INGEST_SECRET = SECRET
        self.__dict__.update(extra)


@pytest.fixture
def runtime() -> Runtime:
    return Runtime()


@pytest.fixture
def entry(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    class WorkerEntrypoint:
        def __init__(self, ctx: Any, env: Any) -> None:
            self.ctx, self.env = ctx, env

    workers = types.ModuleType("workers")
    workers.__dict__.update(
        WorkerEntrypoint=WorkerEntrypoint, Request=FakeRequest, Response=FakeResponse, fetch=runtime.fetch
    )
    js = types.ModuleType("js")
    js.__dict__.update(AbortSignal=types.SimpleNamespace(timeout=lambda ms: ("abort-after", ms)))
    monkeypatch.setitem(sys.modules, "workers", workers)
    monkeypatch.setitem(sys.modules, "js", js)
    monkeypatch.delitem(sys.modules, "edge.entry", raising=False)
    module = importlib.import_module("edge.entry")
    yield module
    sys.modules.pop("edge.entry", None)
    edge.__dict__.pop("entry", None)


def _headers(response: FakeResponse) -> dict[str, str]:
    init = response.headers_init
    pairs = init.items() if isinstance(init, dict) else init
    return {name.lower(): value for name, value in pairs}


BODY = json.dumps({"messages": [{"role": "user", "content": "Hi"}]}).encode()


async def test_an_answer_becomes_a_response(entry: Any, runtime: Runtime) -> None:
    worker = entry.Default(Ctx(runtime), Bindings(MemoryKV()))
    request = JsRequest(
        "POST", "https://edge.example/v1/chat/completions", [], BODY, cf=types.SimpleNamespace(colo="SIN")
    )
    response = await worker.fetch(FakeRequest(request))
    assert isinstance(response, FakeResponse) and response.status == 401
    assert json.loads(response.body)["error"]["code"] == "missing_api_key"
    headers = _headers(response)
    assert headers["x-prism-edge-cache"] == "auth-reject"
    assert headers["x-prism-edge-region"] == "SIN"
    assert runtime.fetched == []


async def test_forward_keeps_headers_and_streams_both_ways(entry: Any, runtime: Runtime) -> None:
    incoming = [
        ("Host", "edge.example"),
        ("Connection", "keep-alive, X-Hop"),
        ("Keep-Alive", "timeout=5"),
        ("X-Hop", "1"),
        ("TE", "trailers"),
        ("Proxy-Authorization", "Basic x"),
        ("Accept", "application/json"),
        ("X-Custom", "a"),
        ("X-Custom", "b"),
        ("X-Prism-Tags", "not = parsed ,, here"),
        (h.EDGE_FORWARDED, "SIN.1.forged"),  # only the edge vouches for a PoP, and here it knows none
    ]
    request = JsRequest("PUT", "https://edge.example/healthz?deep=1", incoming, b"raw \x00 bytes")
    worker = entry.Default(Ctx(runtime), Bindings(MemoryKV()))
    response = await worker.fetch(FakeRequest(request))

    [sent] = runtime.fetched
    assert sent.url == f"{ORIGIN}/healthz?deep=1"
    assert sent.init["method"] == "PUT"
    assert sent.init["redirect"] == "manual" and sent.fetch_options == {}
    assert sent.init["headers"] == [
        ("Accept", "application/json"),
        ("X-Custom", "a"),
        ("X-Custom", "b"),
        ("X-Prism-Tags", "not = parsed ,, here"),
    ]
    assert sent.init["body"] == ("stream", b"raw \x00 bytes")  # the unread stream itself
    assert sent.init["duplex"] == "half"

    assert response.body == ("origin-stream",)
    assert (response.status, response.status_text) == (201, "Created")
    assert response.headers_init == [
        ("content-type", "application/json"),
        ("x-prism-cache", "miss"),
        ("set-cookie", "a=1"),
        ("set-cookie", "b=2"),
        (h.EDGE_CACHE, "passthrough"),
    ]


async def test_forward_sends_the_bytes_the_handler_read(entry: Any, runtime: Runtime) -> None:
    kv = MemoryKV()
    store_grant(kv)
    request = JsRequest(
        "POST",
        "https://edge.example/v1/chat/completions",
        [
            ("Authorization", f"Bearer {KEY}"),
            ("Content-Length", str(len(BODY))),
            (h.EDGE_FORWARDED.lower(), "SIN.1.forged"),
        ],
        BODY,
    )
    request.cf = types.SimpleNamespace(colo="FRA")
    response = await entry.Default(Ctx(runtime), Bindings(kv)).fetch(FakeRequest(request))
    [sent] = runtime.fetched
    assert sent.init["body"] == BODY and "duplex" not in sent.init
    assert ("Content-Length", str(len(BODY))) in sent.init["headers"]
    [stamp] = [value for name, value in sent.init["headers"] if name.lower() == h.EDGE_FORWARDED.lower()]
    assert forwarded_region(stamp, SECRET, now=time.time()) == "FRA"
    assert _headers(response)["x-prism-edge-region"] == "FRA"
    assert _headers(response)["x-prism-edge-cache"] == "passthrough"


async def test_get_forwards_no_body(entry: Any, runtime: Runtime) -> None:
    request = JsRequest("GET", "https://edge.example/readyz", [])
    await entry.Default(Ctx(runtime), Bindings(MemoryKV())).fetch(request)  # a raw JS request is wrapped
    [sent] = runtime.fetched
    assert "body" not in sent.init


async def test_unreachable_origin_is_a_502(entry: Any, runtime: Runtime) -> None:
    def refuse(request: FakeRequest) -> FakeResponse:
        raise OSError("connection refused")

    runtime.answer = refuse
    response = await entry.Default(Ctx(runtime), Bindings(MemoryKV())).fetch(
        JsRequest("GET", "https://edge.example/healthz", [])
    )
    assert response.status == 502
    assert json.loads(response.body)["error"]["code"] == "upstream_error"
    assert _headers(response)["x-prism-edge-cache"] == "passthrough"


async def test_hit_answers_and_hands_the_row_to_waituntil(entry: Any, runtime: Runtime) -> None:
    kv = MemoryKV()
    hashed = store_grant(kv)
    store_entry(kv, fingerprint(GRANT.project_id, json.loads(BODY)))
    runtime.answer = lambda request: FakeResponse(b"", status=202)
    request = JsRequest(
        "POST", "https://edge.example/v1/chat/completions", [("Authorization", f"Bearer {KEY}")], BODY
    )
    request.cf = types.SimpleNamespace(colo="SIN")
    response = await entry.Default(Ctx(runtime), Bindings(kv)).fetch(FakeRequest(request))
    assert response.status == 200
    assert _headers(response)["x-prism-edge-cache"] == "hit"
    assert runtime.fetched == []  # nothing leaves before the response

    [work] = runtime.waited
    await work
    [post] = runtime.fetched
    assert post.url == f"{ORIGIN}/internal/usage"
    assert post.init["method"] == "POST"
    assert post.fetch_options == {"signal": ("abort-after", 5000)}
    headers = post.init["headers"]
    assert verify(
        post.init["body"],
        headers[h.INGEST_TIMESTAMP],
        headers[h.INGEST_SIGNATURE],
        SECRET,
        now=float(headers[h.INGEST_TIMESTAMP]),
    )
    envelope = json.loads(post.init["body"])
    assert envelope["key_hash"] == hashed
    assert envelope["row"]["request_id"] == _headers(response)["x-prism-request-id"]


async def test_kv_binding_adapter_passes_the_ttl_option(entry: Any) -> None:
    kv = MemoryKV()
    namespace = KVNamespace(kv)
    adapter = entry.KVBinding(namespace)
    await adapter.put("deadletter:x", "{}", expiration_ttl=604800)
    await adapter.put("plain", "v")
    assert namespace.put_calls == [("deadletter:x", "{}", {"expirationTtl": 604800}), ("plain", "v")]
    assert await adapter.get("plain") == "v"
    assert await adapter.get("missing") is None


def test_environment_reads_vars_and_secrets(entry: Any) -> None:
    env = entry.environment(Bindings(MemoryKV()))
    assert (env.origin_url, env.key_pepper, env.ingest_secret) == (ORIGIN + "/", PEPPER, SECRET)
    assert (env.max_body_bytes, env.default_region) == (4 * 1024 * 1024, None)
    env = entry.environment(Bindings(MemoryKV(), MAX_BODY_BYTES="1024", DEFAULT_REGION="DEV"))
    assert (env.max_body_bytes, env.default_region) == (1024, "DEV")


def test_entry_is_the_only_runtime_importer() -> None:
    runtime_modules = {"workers", "js", "pyodide"}
    for path in Path(edge.__file__).parent.glob("*.py"):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                imported |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module.split(".")[0])
        stdlib_or_project = imported <= set(sys.stdlib_module_names) | {"edge", "shared"}
        if path.name == "entry.py":
            assert imported & runtime_modules == runtime_modules
        else:
            assert not imported & runtime_modules and stdlib_or_project, path.name
