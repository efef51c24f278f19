"""One request at the edge: reject a bad key, answer an exact-cache hit, or forward to the origin.

- ``/v1/*`` needs a valid key (CORS preflights aside), as a bearer token or Anthropic's ``x-api-key``:
  a missing, malformed, unknown or revoked key is a 401 here (in Anthropic's shape under
  ``/v1/messages``) and never reaches the origin. Other paths (``/healthz``, …) are forwarded as they are.
- ``POST /v1/chat/completions`` or ``POST /v1/embeddings`` with a key allowed to use the edge cache,
  headers and body the origin would serve from its exact cache, and an entry in KV: answered here,
  and its usage row handed to the origin after the response.
- Everything else, and anything that goes wrong here, is forwarded: the origin is always right.
"""

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, Protocol

from edge import cache, ingest
from edge.auth import Authorized, authenticate
from edge.errors import error_answer
from edge.outbox import Outbox
from edge.proxy import origin_target
from edge.runtime import Answer, Clock, EdgeRequest, Env, Forward, Poster, Schedule, Sleep
from shared import headers as h
from shared.credentials import authorization
from shared.edge_forwarded import is_region, stamp
from shared.edgekv import generations_match
from shared.errors import InvalidHeader, speaks_anthropic
from shared.keys import KeyRejection, models_permit
from shared.request import PrismHeaders, parse_request_headers
from shared.usage import UsageRow, new_request_id

HIT = "hit"
PASSTHROUGH = "passthrough"
AUTH_REJECT = "auth-reject"

log = logging.getLogger("prism.edge")


def edge_headers(outcome: str, region: str | None) -> dict[str, str]:
    headers = {h.EDGE_CACHE: outcome}
    if region:
        headers[h.EDGE_REGION] = region
    return headers


def needs_key(request: EdgeRequest) -> bool:
    api = request.path == "/v1" or request.path.startswith("/v1/")
    return api and request.method != "OPTIONS"  # browsers never send credentials on a preflight


@dataclass(frozen=True, slots=True)
class _Context:
    request: EdgeRequest
    env: Env
    schedule: Schedule
    poster: Poster
    clock: Clock
    sleep: Sleep
    jitter: Callable[[], float]
    outbox: Outbox
    region: str | None
    started: float

    def forward(self) -> Forward:
        url = origin_target(self.env.origin_url, self.request.path, self.request.query)
        vouched: dict[str, str] = {}
        if self.region and is_region(self.region) and self.env.ingest_secret:
            vouched[h.EDGE_FORWARDED] = stamp(self.region, self.env.ingest_secret, now=self.started)
        return Forward(url, edge_headers(PASSTHROUGH, self.region), vouched)

    def hand_off(self, key_hash: str, row: UsageRow) -> None:
        deadline = self.clock() + ingest.DEADLINE_SECONDS  # this request's waitUntil sends by then

        def send(parcels: list[ingest.Parcel]) -> Coroutine[Any, Any, list[ingest.Delivery]]:
            return ingest.deliver(
                parcels,
                self.env,
                self.poster,
                clock=self.clock,
                sleep=self.sleep,
                jitter=self.jitter,
                deadline=deadline,
            )

        work = self.outbox.add(
            ingest.Parcel(row.request_id, ingest.envelope(key_hash, row)), send, self.sleep
        )
        if work is not None:
            self.schedule(work)


def origin_unreachable(forward: Forward) -> Answer:
    """What the client gets when the forward itself fails (connection refused, DNS, reset)."""
    message = "Prism's origin could not be reached; retry shortly."
    return error_answer(502, message, code="upstream_error", headers=forward.response_headers)


async def handle(
    request: EdgeRequest,
    env: Env,
    schedule: Schedule,
    *,
    poster: Poster,
    clock: Clock = time.time,
    sleep: Sleep = asyncio.sleep,
    jitter: Callable[[], float] = random.random,
    outbox: Outbox | None = None,
) -> Answer | Forward:
    """``schedule`` is ``ctx.waitUntil``: it runs the usage hand-off after the response. ``outbox`` is
    the isolate's (``edge.outbox``); without one, each row is a batch of its own."""
    region = request.colo or env.default_region
    outbox = Outbox() if outbox is None else outbox
    ctx = _Context(request, env, schedule, poster, clock, sleep, jitter, outbox, region, clock())
    try:
        return await _decide(ctx)
    except Exception:
        log.exception("edge handler failed; forwarding to the origin")
        return ctx.forward()


async def _decide(ctx: _Context) -> Answer | Forward:
    request, env = ctx.request, ctx.env
    if not needs_key(request):
        return ctx.forward()
    auth = await authenticate(authorization(request.headers), env.kv, env.key_pepper, now=ctx.started)
    if auth is None:
        return ctx.forward()
    if isinstance(auth, KeyRejection):
        headers = edge_headers(AUTH_REJECT, ctx.region)
        anthropic = speaks_anthropic(request.path)
        return error_answer(401, auth.message, code=auth.code, headers=headers, anthropic=anthropic)
    lookup = _lookup_for(request.path)
    if request.method != "POST" or lookup is None or not auth.grant.edge_cache:
        return ctx.forward()
    return await _cached(ctx, auth, lookup)


class _Lookup(Protocol):
    def __call__(
        self, raw: bytes, parsed: PrismHeaders, *, project_id: str, limit: int
    ) -> cache.Lookup | None: ...


def _lookup_for(path: str) -> _Lookup | None:
    """How the edge finds a cached answer for this endpoint (``None``: it has none to give)."""
    if path == cache.CHAT_PATH:
        return cache.lookup
    if path == cache.EMBEDDINGS_PATH:
        return cache.lookup_embeddings
    return None


async def _cached(ctx: _Context, auth: Authorized, lookup: _Lookup) -> Answer | Forward:
    """A chat completion's or an embedding's answer from KV, when the origin would serve it from its cache."""
    request, env = ctx.request, ctx.env
    parsed = parse_request_headers(request.headers)
    if parsed.error is not None:
        return _refuse(ctx, auth, parsed, parsed.error)
    if not cache.answerable(
        parsed, request.headers, env.max_body_bytes, session_memory=auth.grant.session_memory
    ):
        return ctx.forward()
    found = lookup(await request.body(), parsed, project_id=auth.grant.project_id, limit=env.max_body_bytes)
    if found is None:
        return ctx.forward()
    entry = await cache.find(env.kv, found.fp)
    if entry is None or not generations_match(auth.grant.generation, entry.generation):
        return ctx.forward()  # no answer, or one made before the project's current rules
    if not models_permit(auth.grant.models, entry.model):
        return ctx.forward()  # the origin tells the key which models it may use
    request_id = new_request_id()
    answer = cache.hit_answer(entry, found, {**edge_headers(HIT, ctx.region), h.REQUEST_ID: request_id})
    if answer is None:
        return ctx.forward()
    row = ingest.hit_row(
        auth.grant,
        entry,
        found,
        parsed,
        request_id=request_id,
        region=ctx.region,
        started=ctx.started,
        now=ctx.clock(),
    )
    ctx.hand_off(auth.key_hash, row)
    return answer


def _refuse(ctx: _Context, auth: Authorized, parsed: PrismHeaders, error: InvalidHeader) -> Answer:
    """The origin's 400 for the same header, and, the key being valid, the same row it would record."""
    request_id = new_request_id()
    row = ingest.refused_row(
        auth.grant,
        parsed,
        request_id=request_id,
        status=400,
        code=error.code,
        region=ctx.region,
        started=ctx.started,
        now=ctx.clock(),
    )
    ctx.hand_off(auth.key_hash, row)
    headers = {**edge_headers(HIT, ctx.region), h.REQUEST_ID: request_id}
    return error_answer(400, str(error), code=error.code, param=error.header, headers=headers)
