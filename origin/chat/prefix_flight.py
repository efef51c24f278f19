"""Prefix single-flight: a cold long prefix is written to the provider's cache once, not once per request.

Requests that share a long stable prefix (tools and system prompt) and arrive while it is cold each
pay the provider's cache write (1.25 times the input price at Anthropic), and none reads another's: a
prefix is readable only once its writer's prompt has been processed. So the first such request
leads and the others wait, bounded by the single-flight wait, until its upstream answers; then they
go and read what it wrote. Any answer marks the prefix warm for five minutes, the providers'
shortest cache lifetime, and a warm prefix never waits. The lock lives no longer than the wait
bound, so a leader that died holds nobody up past it. Without Redis nobody waits.

The prefix is the project's (no tenant can time another's), the model's (each model has its own
cache), and counted by the same four-characters-a-token estimate as the rest of the gateway.
"""

import asyncio
import contextlib
import hashlib
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Final

from origin.cache.exact import CACHE_TIMEOUT_SECONDS, REDIS_ERRORS
from origin.chat.tokens import estimate_tokens
from origin.ops.metrics import Metrics
from origin.providers.anthropic_cache import DEFAULT_MINIMUM_TOKENS, minimum_tokens
from origin.providers.base import ModelConfig
from origin.stores.redis_client import RedisClient
from origin.stores.redis_scripts import BatchedScript, ScriptRunner
from shared.classify import message_text

WARM_SECONDS: Final = 300
SYSTEM_ROLES: Final = ("system", "developer")

_BEGIN: Final = """
if redis.call('exists', KEYS[1]) == 1 then return 1 end
if redis.call('set', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return 2 end
return 3
"""

_WAITING: Final = """
return {redis.call('exists', KEYS[1]), redis.call('exists', KEYS[2])}
"""

_ANSWERED: Final = """
redis.call('set', KEYS[1], '1', 'EX', ARGV[2])
if redis.call('get', KEYS[2]) == ARGV[1] then redis.call('del', KEYS[2]) end
return 1
"""

_RELEASE: Final = """
if redis.call('get', KEYS[2]) == ARGV[1] then return redis.call('del', KEYS[2]) end
return 0
"""


@dataclass(frozen=True, slots=True)
class Prefix:
    fp: str
    tokens: int
    text: str = field(default="", repr=False, compare=False)  # tools as JSON, then the system texts

    @property
    def keys(self) -> list[str]:
        return [f"prism:pfx:{{{self.fp}}}", f"prism:pfx:{{{self.fp}}}:lock"]


def long_prefix(
    project_id: str, body: dict[str, Any], model: ModelConfig, provider_kind: str
) -> Prefix | None:
    """The request's stable prefix (its tools, then its leading system messages) when it is long
    enough for ``model``'s provider to cache; ``None`` otherwise."""
    tools = body.get("tools") or []
    system = []
    for message in body.get("messages") or []:
        if not isinstance(message, dict) or message.get("role") not in SYSTEM_ROLES:
            break
        system.append(message_text(message))
    tools_text = json.dumps(tools) if tools else ""
    tokens = estimate_tokens(tools_text) + sum(map(estimate_tokens, system))
    minimum = minimum_tokens(model.upstream_model) if provider_kind == "anthropic" else DEFAULT_MINIMUM_TOKENS
    if tokens < minimum:
        return None
    canonical = json.dumps([project_id, model.name, tools, system], sort_keys=True, separators=(",", ":"))
    fp = hashlib.sha256(canonical.encode()).hexdigest()[:32]
    return Prefix(fp, tokens, "".join([tools_text, *system]))


class PrefixFlights:
    def __init__(
        self,
        redis_client: RedisClient,
        metrics: Metrics,
        *,
        wait_seconds: float,
        scripts: ScriptRunner | None = None,
        timeout: float = CACHE_TIMEOUT_SECONDS,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        scripts = scripts or ScriptRunner(redis_client)
        self._metrics = metrics
        self._wait_seconds = wait_seconds
        self._timeout = timeout
        self._sleep = sleep
        self._begin = scripts.register(_BEGIN)
        self._waiting = scripts.register(_WAITING)
        self._answered = scripts.register(_ANSWERED)
        self._release = scripts.register(_RELEASE)

    @contextlib.asynccontextmanager
    async def around(self, prefix: Prefix | None) -> AsyncIterator[None]:
        """Wrap the upstream call (to its first byte): wait first when another request is writing
        ``prefix``; mark it warm once the call answered, or drop the lead when it failed."""
        if prefix is None:
            yield
            return
        lead = await self._enter(prefix)
        try:
            yield
        except BaseException:
            if lead is not None:
                await self._call(self._release, prefix, lead)
            raise
        await self._call(self._answered, prefix, lead or "", WARM_SECONDS)

    async def _enter(self, prefix: Prefix) -> str | None:
        """The lock token when this request leads the write; ``None`` when the prefix is warm or
        another request led (after waiting for it) or Redis is away."""
        token = secrets.token_hex(8)
        status = await self._call(self._begin, prefix, token, max(1, int(self._wait_seconds * 1000)))
        if status == 2:
            self._metrics.prefix_flights.labels(outcome="lead").inc()
            return token
        if status == 1:
            self._metrics.prefix_flights.labels(outcome="warm").inc()
        elif status == 3:
            outcome = "waited" if await self._wait(prefix) else "timeout"
            self._metrics.prefix_flights.labels(outcome=outcome).inc()
        return None

    async def _wait(self, prefix: Prefix) -> bool:
        """True once the leader answered or gave up, False when the wait bound passed first."""
        deadline = time.monotonic() + self._wait_seconds
        delay = 0.005
        while time.monotonic() < deadline:
            state = await self._call(self._waiting, prefix)
            if state is None:
                return True  # Redis is away: nobody waits
            warm, locked = (int(value) for value in state)
            if warm or not locked:
                return True
            await self._sleep(min(delay, max(deadline - time.monotonic(), 0)))
            delay = min(delay * 2, 0.05)
        return False

    async def _call(self, script: BatchedScript, prefix: Prefix, *args: str | int) -> Any:
        with contextlib.suppress(*REDIS_ERRORS):
            async with asyncio.timeout(self._timeout):
                return await script(keys=prefix.keys, args=list(args))
        return None
