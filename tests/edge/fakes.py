"""In-memory twins of the edge's runtime seam: KV, poster, clock, scheduler and requests."""

from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from edge.runtime import EdgeRequest, Env, Headers
from shared.edgekv import EdgeCacheEntry, KeyGrant, cache_name, key_name
from shared.keys import key_hash

PEPPER = "edge-test-pepper-0123456789"
SECRET = "edge-test-ingest-secret-0123456789"
ORIGIN = "https://origin.example"
KEY = "prism_sk_" + "A" * 43
OTHER_KEY = "prism_sk_" + "B" * 43
START = 1_700_000_000.0


class MemoryKV:
    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.ttls: dict[str, int | None] = {}
        self.fail_get = False
        self.put_failures = 0
        self.gets: list[str] = []

    async def get(self, name: str) -> str | None:
        self.gets.append(name)
        if self.fail_get:
            raise ConnectionError("KV unavailable")
        return self.data.get(name)

    async def put(self, name: str, value: str, *, expiration_ttl: int | None = None) -> None:
        if self.put_failures:
            self.put_failures -= 1
            raise ConnectionError("KV unavailable")
        self.data[name] = value
        self.ttls[name] = expiration_ttl


class FakeClock:
    """Wall time that moves only when told to; ``sleep`` advances it."""

    def __init__(self, now: float = START) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@dataclass
class Post:
    url: str
    body: bytes
    headers: dict[str, str]
    timeout: float
    at: float


@dataclass
class ScriptedPoster:
    """Answers each post with the next scripted outcome (a status, or an exception to raise),
    after ``latency`` seconds of fake time; once the script runs out, ``default`` answers."""

    clock: FakeClock
    script: list[int | BaseException] = field(default_factory=list)
    latency: float = 0.05
    default: int | BaseException = 202
    posts: list[Post] = field(default_factory=list)

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        self.posts.append(Post(url, body, headers, timeout, self.clock.now))
        outcome = self.script.pop(0) if self.script else self.default
        self.clock.now += timeout if isinstance(outcome, TimeoutError) else self.latency
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome


class Scheduler:
    """``ctx.waitUntil``: keeps the coroutines; ``run`` awaits them as the runtime would."""

    def __init__(self) -> None:
        self.pending: list[Coroutine[Any, Any, Any]] = []

    def __call__(self, coroutine: Coroutine[Any, Any, Any]) -> None:
        self.pending.append(coroutine)

    async def run(self) -> list[Any]:
        results = [await coroutine for coroutine in self.pending]
        self.pending.clear()
        return results

    def discard(self) -> None:
        for coroutine in self.pending:
            coroutine.close()
        self.pending.clear()


def make_env(kv: MemoryKV, **changes: Any) -> Env:
    values: dict[str, Any] = {
        "kv": kv,
        "origin_url": ORIGIN,
        "key_pepper": PEPPER,
        "ingest_secret": SECRET,
        "default_region": None,
    }
    return Env(**(values | changes))


class BodyCounter:
    def __init__(self, body: bytes) -> None:
        self.body = body
        self.reads = 0

    async def __call__(self) -> bytes:
        self.reads += 1
        return self.body


def make_request(
    method: str = "POST",
    path: str = "/v1/chat/completions",
    *,
    headers: dict[str, str] | list[tuple[str, str]] | None = None,
    body: bytes = b"",
    colo: str | None = "SIN",
) -> tuple[EdgeRequest, BodyCounter]:
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    reader = BodyCounter(body)
    return EdgeRequest(
        method, f"https://edge.example{path}", Headers(pairs), colo=colo, read_body=reader
    ), reader


GENERATION = "gen-1"
GRANT = KeyGrant(
    key_id="key-1", project_id="proj-1", org_id="org-1", active=True, edge_cache=True, generation=GENERATION
)


def store_grant(kv: MemoryKV, grant: KeyGrant = GRANT, key: str = KEY) -> str:
    hashed = key_hash(key, PEPPER)
    kv.data[key_name(hashed)] = grant.to_json()
    return hashed


COMPLETION: dict[str, Any] = {
    "id": "chatcmpl-stored",
    "object": "chat.completion",
    "created": 1,
    "model": "alpha-1",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Hello from the cache"},
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
}

ENTRY = EdgeCacheEntry(
    response=COMPLETION,
    model="alpha-1",
    tokens_in=12,
    tokens_out=5,
    tokens_cached_in=2,
    cost_cents=0.0042,
    generation=GENERATION,
)


def store_entry(kv: MemoryKV, fp: str, entry: EdgeCacheEntry = ENTRY) -> None:
    kv.data[cache_name(fp)] = entry.to_json()
