"""The fake provider's prompt cache: prefixes kept on pods, keyed and reported like the real providers.

A request is a list of ``Part``s in provider order: tools, then system, then the messages (each message's
role, then its content blocks). A part has a ``header`` (its structure as canonical JSON: a tool definition,
a role, a block's type and non-text fields, never ``cache_control``) and a ``text`` (what the token rule
counts). The request's text string ``T`` is every part's text joined; its N-token prefix is ``T[: 4 * N]``
(``count_tokens`` in ``tests.fakes.behaviour``; a prefix of x characters holds ``ceil(x / 4)`` tokens).
The key of a prefix is the SHA-256 of the model, its model version and tokenizer version, and the
serialisation ``C`` (each part's length-prefixed header, then its text) up to the prefix's end: OpenAI's
prefixes end after their last text character, Anthropic's after the part that carries the breakpoint.
So changing a tool, a role or an image changes every later key, a new model or tokenizer version makes
every earlier entry unreachable, and tool definitions, which the fake has never counted, carry no tokens.

OpenAI (``automatic``): a prefix of L tokens is cacheable when ``L >= min_tokens`` and
``(L - min_tokens) % 128 == 0``; the read is the longest run of cacheable prefixes already held, and every
cacheable prefix of the request is held afterwards. Anthropic (``breakpoints``): each ``cache_control``
part ends a prefix, cacheable from ``min_tokens``; the read is the longest prefix held that ends at a
breakpoint or at one of the 20 parts before it (Anthropic's lookback, so a breakpoint that moves to the
newest message still finds the previous turn's), and the later breakpoints are written, each segment
(from the previous cut) at its breakpoint's lifetime. The wire (``anthropic_wire``) refuses more than
four breakpoints and an hour-long one after a five-minute one, and reads a top-level ``cache_control``
as a breakpoint on the request's last block.

An entry costs its segment's tokens on its pod; a pod over capacity drops its least recently used entries,
and a request touches its longest prefix first, so a conversation's shared start is the last to go.
Entries live 5 minutes (Anthropic's ``ttl: "1h"``: an hour); a read starts the lifetime again. A prefix
being written is read by nobody until its writer's prefill is over (``prefill_seconds``, the time to the
writer's first byte): requests that arrive meanwhile each pay the write again, as they do upstream.
"""

import hashlib
import json
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final

FIVE_MINUTES: Final = 300.0
ONE_HOUR: Final = 3600.0
STEP_TOKENS: Final = 128
LOOKBACK_PARTS: Final = 20  # Anthropic also looks for a hit at the 20 blocks before each breakpoint


@dataclass(frozen=True)
class Part:
    header: str
    text: str
    ttl: float | None = None


@dataclass(frozen=True)
class Settings:
    pods: int = 4
    pod_tokens: int = 1_000_000
    min_tokens: int = 1024
    model_version: str = "1"
    tokenizer_version: str = "1"
    prefill_seconds: float = 0


@dataclass(frozen=True)
class CacheUsage:
    """Prompt tokens read and written; ``within_prompt`` when they are part of the counted prompt."""

    read: int = 0
    written_5m: int = 0
    written_1h: int = 0
    within_prompt: bool = True

    @property
    def written(self) -> int:
        return self.written_5m + self.written_1h


def header(value: Any) -> str:
    return json.dumps(_without_cache_control(value), sort_keys=True, separators=(",", ":"))


def breakpoint_ttl(block: dict[str, Any]) -> float | None:
    control = block.get("cache_control")
    if not isinstance(control, dict) or control.get("type") != "ephemeral":
        return None
    return ONE_HOUR if control.get("ttl") == "1h" else FIVE_MINUTES


def _without_cache_control(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_cache_control(v) for k, v in value.items() if k != "cache_control"}
    if isinstance(value, list):
        return [_without_cache_control(item) for item in value]
    return value


def _tokens(characters: int) -> int:
    return math.ceil(characters / 4)


def _walk(model: str, settings: Settings, parts: Sequence[Part]) -> Iterator[tuple[Part, int, Any]]:
    """Each part with the text offset where it starts and a hash that has taken in its header."""
    digest = hashlib.sha256("\0".join([model, settings.model_version, settings.tokenizer_version]).encode())
    start = 0
    for part in parts:
        encoded = part.header.encode()
        digest.update(f"\0{len(encoded)}:".encode() + encoded)
        yield part, start, digest
        start += len(part.text)


def _offset_cuts(model: str, settings: Settings, parts: Sequence[Part], offsets: list[int]) -> list[str]:
    """Keys of the prefixes that end after each of the ascending text ``offsets``."""
    keys: list[str] = []
    pending = iter(offsets)
    offset = next(pending, None)
    for part, start, digest in _walk(model, settings, parts):
        done = 0
        while offset is not None and start < offset <= start + len(part.text):
            digest.update(part.text[done : offset - start].encode())
            done = offset - start
            keys.append(digest.hexdigest())
            offset = next(pending, None)
        digest.update(part.text[done:].encode())
    return keys


@dataclass(frozen=True)
class _Boundary:
    tokens: int
    key: str
    ttl: float | None  # the lifetime of the breakpoint here, if the part carries one


def _boundaries(model: str, settings: Settings, parts: Sequence[Part]) -> list[_Boundary]:
    """The prefix that ends after each part."""
    found: list[_Boundary] = []
    for part, start, digest in _walk(model, settings, parts):
        digest.update(part.text.encode())
        found.append(_Boundary(_tokens(start + len(part.text)), digest.hexdigest(), part.ttl))
    return found


@dataclass
class _Entry:
    tokens: int
    ttl: float
    expires_at: float
    ready_at: float


class Pod:
    """Entries by key, least recently used first."""

    def __init__(self) -> None:
        self.entries: OrderedDict[str, _Entry] = OrderedDict()

    @property
    def used_tokens(self) -> int:
        return sum(entry.tokens for entry in self.entries.values())

    def holds(self, key: str, now: float) -> bool:
        entry = self.entries.get(key)
        if entry is not None and entry.expires_at <= now:
            del self.entries[key]
            return False
        return entry is not None and entry.ready_at <= now

    def keep(self, key: str, tokens: int, ttl: float, now: float, ready_at: float) -> None:
        entry = self.entries.get(key)
        if entry is None:
            self.entries[key] = _Entry(tokens, ttl, now + ttl, ready_at)
        else:
            entry.ready_at = min(entry.ready_at, ready_at)
            entry.ttl = max(entry.ttl, ttl)
            entry.expires_at = now + entry.ttl
        self.entries.move_to_end(key)

    def evict(self, capacity: int, now: float) -> None:
        for key in [key for key, entry in self.entries.items() if entry.expires_at <= now]:
            del self.entries[key]
        used = self.used_tokens
        while used > capacity and self.entries:
            used -= self.entries.popitem(last=False)[1].tokens


class PromptCache:
    def __init__(self, clock: Callable[[], float], seed: int) -> None:
        self._clock = clock
        self._seed = seed
        self._rng = random.Random(seed)
        self._pods: dict[tuple[str, int], Pod] = {}

    def flush(self) -> None:
        self._pods.clear()
        self._rng = random.Random(self._seed)

    def pod(self, model: str, settings: Settings, routing_key: str | None) -> Pod:
        """The pod a request lands on: a stable hash of ``routing_key``, else a seeded random pick."""
        count = max(1, settings.pods)
        if routing_key is None:
            index = self._rng.randrange(count)
        else:
            index = int.from_bytes(hashlib.blake2b(routing_key.encode(), digest_size=8).digest()) % count
        return self._pods.setdefault((model, index), Pod())

    def now(self) -> float:
        return self._clock()

    def automatic(
        self,
        model: str,
        settings: Settings,
        parts: Sequence[Part],
        routing_key: str | None,
        arrived: float | None = None,
    ) -> CacheUsage:
        """OpenAI: every cacheable prefix is held; the read is the longest run already held."""
        pod, now = self.pod(model, settings, routing_key), self._clock() if arrived is None else arrived
        characters = sum(len(part.text) for part in parts)
        first = max(1, settings.min_tokens)
        lengths = list(range(first, _tokens(characters) + 1, STEP_TOKENS))
        keys = _offset_cuts(model, settings, parts, [min(4 * length, characters) for length in lengths])
        held = 0
        while held < len(keys) and pod.holds(keys[held], now):
            held += 1
        previous = [0, *lengths]
        for index in reversed(range(len(keys))):
            pod.keep(
                keys[index],
                lengths[index] - previous[index],
                FIVE_MINUTES,
                now,
                now + settings.prefill_seconds,
            )
        pod.evict(settings.pod_tokens, now)
        return CacheUsage(read=lengths[held - 1] if held else 0)

    def breakpoints(
        self,
        model: str,
        settings: Settings,
        parts: Sequence[Part],
        routing_key: str | None = None,
        arrived: float | None = None,
    ) -> CacheUsage:
        """Anthropic: the longest prefix held at a breakpoint, or at a part boundary up to
        ``LOOKBACK_PARTS`` before one, is read; the later breakpoints are written."""
        pod, now = self.pod(model, settings, routing_key), self._clock() if arrived is None else arrived
        bounds = _boundaries(model, settings, parts)
        marked = [
            i
            for i, bound in enumerate(bounds)
            if bound.ttl is not None and bound.tokens >= settings.min_tokens
        ]
        read_at = max(
            (
                j
                for i in marked
                for j in range(i, max(-1, i - LOOKBACK_PARTS - 1), -1)
                if bounds[j].tokens >= settings.min_tokens and pod.holds(bounds[j].key, now)
            ),
            default=-1,
        )
        read = bounds[read_at].tokens if read_at >= 0 else 0
        written = {FIVE_MINUTES: 0, ONE_HOUR: 0}
        kept = ([read_at] if read_at >= 0 else []) + [i for i in marked if bounds[i].tokens > read]
        previous = 0
        for index in kept:
            bound = bounds[index]
            ttl = FIVE_MINUTES if bound.ttl is None else bound.ttl
            if index != read_at:
                written[ttl] += bound.tokens - max(previous, read)
            previous = bound.tokens
        for position in reversed(range(len(kept))):
            bound = bounds[kept[position]]
            segment = bound.tokens - (bounds[kept[position - 1]].tokens if position else 0)
            ttl = FIVE_MINUTES if bound.ttl is None else bound.ttl
            pod.keep(bound.key, segment, ttl, now, now + settings.prefill_seconds)
        pod.evict(settings.pod_tokens, now)
        return CacheUsage(read=read, written_5m=written[FIVE_MINUTES], written_1h=written[ONE_HOUR])
