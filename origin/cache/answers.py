"""The exact cache with single-flight, for one request: a stored answer it may use, or the lock
that makes it the one request asking upstream, and the place its own answer goes.

The project's cache scope applies (a request no scope isolates is a bypass), ``fits`` says whether
a stored answer suits this request's route, and what is stored is listed for erasure under the
request's session and tags. A lock taken here is released when the row settles. An endpoint the edge
serves from Workers KV passes its project's controls, and answers its edge may serve are published.
"""

from collections.abc import Callable
from typing import Any

from origin.cache.canonical import fingerprint
from origin.cache.erasure import CacheIndex, member, selectors
from origin.cache.exact import CacheEntry
from origin.cache.singleflight import SingleFlight
from origin.chat.ledger import Ledger
from origin.controls.generation import controls_generation
from origin.controls.policy import ProjectControls
from origin.providers.base import JSON, ModelConfig, Usage
from origin.stores.kv import KVPublisher
from shared.directive import NO_CACHE, CacheDirective
from shared.usage import BYPASS, MISS

Fits = Callable[[CacheEntry | None], bool]


class Slot:
    """``hit`` is a stored answer to serve; otherwise ``fill`` stores this request's answer."""

    def __init__(
        self,
        answers: "Answers",
        fp: str,
        directive: CacheDirective,
        ledger: Ledger,
        *,
        hit: CacheEntry | None = None,
        lock: str | None = None,
        edge: ProjectControls | None = None,
    ) -> None:
        self._answers = answers
        self._fp = fp
        self._directive = directive
        self._ledger = ledger
        self.hit = hit
        self._lock = lock
        self._edge = edge  # the controls the answer is published under; None: it stays at the origin

    async def fill(self, answer: JSON, model: ModelConfig, usage: Usage, *, route_head: str) -> None:
        """Store the answer (only the lock's holder does, and only when the directive writes)."""
        if self._lock is None or not self._directive.write:
            return
        ttl = self._directive.ttl_seconds
        cost = usage.cost_cents(model.price)
        entry = CacheEntry.build(
            answer,
            model=model.name,
            provider=model.provider,
            route_head=route_head,
            usage=usage,
            cost_cents=cost,
        )
        await self._answers.flights.finish(self._fp, entry, ttl, self._lock)
        stored = [member("exact", self._fp)]
        if self._edge is not None and self._answers.kv is not None:
            generation = controls_generation(self._edge, self._answers.config_digest)
            self._answers.kv.publish_cache(self._fp, entry.for_edge(generation), ttl)
            stored.append(member("edge", self._fp))
        row = self._ledger.row
        await self._answers.index.add(
            row.project_id, selectors(row.session_id, row.request_tags), stored, ttl
        )


def publishes_to_edge(kv: KVPublisher | None, controls: ProjectControls, scope: str, project_id: str) -> bool:
    """Whether an answer goes to Workers KV for the edge: KV is on, the project lets answers leave the
    region, and the answer is the project's (the edge looks answers up by the project's fingerprint:
    narrower scopes stay at the origin)."""
    return kv is not None and kv.enabled and controls.settings.edge_cache == "global" and scope == project_id


class Answers:
    def __init__(
        self,
        flights: SingleFlight,
        index: CacheIndex,
        *,
        wait_seconds: float,
        kv: KVPublisher | None = None,
        config_digest: str = "",
    ) -> None:
        self.flights = flights
        self.index = index
        self.kv = kv
        self._wait = wait_seconds
        self.config_digest = config_digest

    async def slot(
        self,
        ledger: Ledger,
        body: dict[str, Any],
        *,
        mode: str,
        scope: str | None,
        directive: CacheDirective,
        fits: Fits,
        prefer: str | None = None,
        edge: ProjectControls | None = None,
    ) -> Slot:
        """``body`` is what the answer depends on, as its client sent it; ``mode`` keeps one API's
        answers from another's; ``scope`` is the request's cache scope (None: nothing isolates it,
        so the cache is bypassed); ``edge``, the project's controls where the edge serves this API."""
        if scope is None:
            directive = NO_CACHE
        ledger.row.cache_status = BYPASS if directive.bypass else MISS
        fp = fingerprint(scope or ledger.row.project_id, body, mode=mode, model_prefer=prefer)
        if not directive.read:
            return Slot(self, fp, directive, ledger)
        begun = await self.flights.begin(fp)
        if fits(begun.entry):
            return Slot(self, fp, directive, ledger, hit=begun.entry)
        # A stored entry this route may not use (e.g. an alias now points elsewhere) is replaced.
        lock = begun.lock if begun.entry is None else await self.flights.acquire(fp)
        if lock is None:
            entry = await self.flights.wait(fp, self._wait)
            if fits(entry):
                return Slot(self, fp, directive, ledger, hit=entry)
            return Slot(self, fp, directive, ledger)
        ledger.after(lambda row: self.flights.release(fp, lock))
        publishes = (
            edge is not None
            and scope is not None
            and publishes_to_edge(self.kv, edge, scope, ledger.row.project_id)
        )
        return Slot(self, fp, directive, ledger, lock=lock, edge=edge if publishes else None)
