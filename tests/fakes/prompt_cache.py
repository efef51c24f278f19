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
part ends a prefix, cacheable from ``min_tokens``; the read is the longest one held, and the later ones
are written, each segment (from the previous cut) at its breakpoint's lifetime.

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


@dataclass(frozen=True)
class _Cut:
    tokens: int
    key: str
    ttl: float


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


def _part_cuts(model: str, settings: Settings, parts: Sequence[Part]) -> list[_Cut]:
    """One cut after each part that carries a breakpoint."""
    cuts: list[_Cut] = []
    for part, start, digest in _walk(model, settings, parts):
        digest.update(part.text.encode())
        if part.ttl is not None:
            cuts.append(_Cut(_tokens(start + len(part.text)), digest.hexdigest(), part.ttl))
    return cuts


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
        """Anthropic: the longest breakpoint prefix held is read; the later ones are written."""
        pod, now = self.pod(model, settings, routing_key), self._clock() if arrived is None else arrived
        cuts = [cut for cut in _part_cuts(model, settings, parts) if cut.tokens >= settings.min_tokens]
        read_index = max((i for i, cut in enumerate(cuts) if pod.holds(cut.key, now)), default=-1)
        read = cuts[read_index].tokens if read_index >= 0 else 0
        written = {FIVE_MINUTES: 0, ONE_HOUR: 0}
        boundary = read
        for cut in cuts[read_index + 1 :]:
            written[cut.ttl] += cut.tokens - boundary
            boundary = cut.tokens
        kept = cuts[max(read_index, 0) :]
        for index in reversed(range(len(kept))):
            cut = kept[index]
            segment = cut.tokens - (kept[index - 1].tokens if index else 0)
            pod.keep(cut.key, segment, cut.ttl, now, now + settings.prefill_seconds)
        pod.evict(settings.pod_tokens, now)
        return CacheUsage(read=read, written_5m=written[FIVE_MINUTES], written_1h=written[ONE_HOUR])
