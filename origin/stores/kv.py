"""The Workers KV publisher: the origin is the only writer of KV (``key:*``, ``cache:*``).

``publish_key``, ``publish_cache`` and ``delete_cache`` only queue and return: they never block a
request and never raise. One background task performs the writes through the official ``cloudflare``
SDK, retrying with jittered exponential backoff, then logs a warning naming the entry (never its
value). Pending writes are coalesced per name, latest wins, so a revoke queued behind a create of the
same key is what lands. One task, not a pool: Cloudflare's API allows 1,200 requests per five minutes,
and a single writer keeps writes to one name in order.

KV refuses an ``expiration_ttl`` under 60 seconds, so cache entries with a shorter TTL are not
published: the edge misses, and the origin's own cache answers.

Without ``PRISM_CF_*`` settings the publisher is disabled: every method is a no-op and one info line
says so. ``list_dead_letters``, ``get``, ``put``, ``delete`` and ``publish_key_now`` are direct
(awaited, one attempt, except ``publish_key_now`` which retries) and raise on failure.
"""

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass
from typing import Final

import cloudflare
from cloudflare import AsyncCloudflare

from origin.config import Retries
from origin.providers.breakers import backoff_delay
from origin.settings import Settings
from shared.edgekv import DEAD_LETTER_PREFIX, EdgeCacheEntry, KeyGrant, cache_name, key_name

log = logging.getLogger("prism.kv")

OFF_MESSAGE: Final = (
    "Workers KV publishing is off: set PRISM_CF_API_TOKEN, PRISM_CF_ACCOUNT_ID and "
    "PRISM_CF_KV_NAMESPACE_ID to enable it"
)
CLOUDFLARE_API: Final = "https://api.cloudflare.com/client/v4"
MIN_TTL_SECONDS: Final = 60
DEFAULT_RETRIES: Final = Retries(attempts=4, backoff_base=0.5, backoff_max=8.0)
_LIST_PAGE: Final = (10, 1000)  # the bounds Cloudflare accepts for a key listing's limit
_RETRYABLE_STATUS: Final = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class _Write:
    name: str
    value: bytes | None  # None: delete the name
    ttl: int | None = None

    @property
    def verb(self) -> str:
        return "delete" if self.value is None else "write"


class KVPublisher:
    def __init__(
        self,
        client: AsyncCloudflare | None,
        *,
        account_id: str = "",
        namespace_id: str = "",
        retries: Retries = DEFAULT_RETRIES,
        max_pending: int = 10_000,
        rng: random.Random | None = None,
    ) -> None:
        self._client = client
        self._account_id = account_id
        self._namespace_id = namespace_id
        self._retries = retries
        self._max_pending = max_pending
        self._rng = rng or random.Random()
        self._pending: dict[str, _Write] = {}  # insertion-ordered: the oldest name goes first
        self._current: str | None = None
        self._wake = asyncio.Event()
        self._settled = asyncio.Condition()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._dropping = False

    @classmethod
    def from_settings(
        cls, settings: Settings, *, retries: Retries = DEFAULT_RETRIES, max_pending: int = 10_000
    ) -> "KVPublisher":
        if not settings.kv_enabled:
            log.info(OFF_MESSAGE)
            return cls(None)
        base_url = settings.cf_api_base_url or CLOUDFLARE_API
        # Explicit base URL and no SDK retries: settings are the only environment reader, and the
        # retries (with their logging) are ours.
        client = AsyncCloudflare(
            api_token=settings.cf_api_token, base_url=base_url, max_retries=0, timeout=10.0
        )
        # The SDK fills these from CLOUDFLARE_* variables and then prefers them over the token.
        client.api_email = client.api_key = client.user_service_key = None
        log.info("Workers KV publishing to namespace %s via %s", settings.cf_kv_namespace_id, base_url)
        return cls(
            client,
            account_id=settings.cf_account_id or "",
            namespace_id=settings.cf_kv_namespace_id or "",
            retries=retries,
            max_pending=max_pending,
        )

    @property
    def enabled(self) -> bool:
        return self._client is not None

    @property
    def pending(self) -> int:
        return len(self._pending) + (self._current is not None)

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> None:
        if self._client is None:
            return
        if self._task is not None:
            raise RuntimeError("the KV publisher is already started")
        self._task = asyncio.get_running_loop().create_task(self._run(), name="prism-kv-publisher")

    async def stop(self, timeout: float = 5.0) -> None:
        """Perform what is queued for at most ``timeout`` seconds, then give up on the rest."""
        self._closing = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=timeout)
            if not done:
                self._task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await self._task
                log.warning("Workers KV publisher stopped with %d writes not performed", self.pending)
                self._pending.clear()
                self._current = None
                async with self._settled:
                    self._settled.notify_all()
            self._task = None
        if self._client is not None:
            await self._client.close()

    async def flush(self) -> None:
        """Wait until every write queued so far is performed or given up (tests, shutdown)."""
        if self._client is None:
            return
        if self._task is None:
            raise RuntimeError("start the KV publisher before flushing it")
        async with self._settled:
            await self._settled.wait_for(lambda: not self._pending and self._current is None)

    # -- queued: never block, never raise -------------------------------------------------------------

    def publish_key(self, key_hash: str, grant: KeyGrant) -> None:
        self._enqueue(_Write(key_name(key_hash), grant.to_json().encode()), droppable=False)

    def publish_cache(self, fp: str, entry: EdgeCacheEntry, ttl_seconds: int) -> None:
        if self._client is None:
            return
        if ttl_seconds < MIN_TTL_SECONDS:
            log.debug("cache entry %s not published: TTL %ss is under KV's minimum", fp, ttl_seconds)
            return
        self._enqueue(_Write(cache_name(fp), entry.to_json().encode(), int(ttl_seconds)), droppable=True)

    def delete_cache(self, fp: str) -> None:
        self._enqueue(_Write(cache_name(fp), None), droppable=False)

    def _enqueue(self, write: _Write, *, droppable: bool) -> None:
        if self._client is None or self._closing:
            return
        if droppable and write.name not in self._pending and len(self._pending) >= self._max_pending:
            # A cache entry is an optimisation; a key grant or a purge is never dropped.
            if not self._dropping:
                log.warning("Workers KV queue is full (%d); dropping cache publications", self._max_pending)
                self._dropping = True
            return
        self._pending.pop(write.name, None)  # re-queued at the back, with the newest value
        self._pending[write.name] = write
        self._wake.set()

    async def _run(self) -> None:
        while self._pending or not self._closing:
            if not self._pending:
                self._wake.clear()
                await self._wake.wait()
                continue
            name = next(iter(self._pending))
            write = self._pending.pop(name)
            self._current = name
            try:
                await self._perform_with_retries(write, superseded_gives_up=True)
            except Exception as error:
                log.warning(
                    "Workers KV %s of %s gave up (%s); the edge keeps its previous answer",
                    write.verb,
                    write.name,
                    _describe(error),
                )
            finally:
                self._current = None
                if len(self._pending) < self._max_pending // 2:
                    self._dropping = False
                async with self._settled:
                    self._settled.notify_all()

    async def _perform_with_retries(self, write: _Write, *, superseded_gives_up: bool = False) -> None:
        attempts = max(self._retries.attempts, 1)
        for attempt in range(attempts):
            try:
                await self._perform(write)
                return
            except Exception as error:
                if not _retryable(error) or attempt + 1 >= attempts:
                    raise
                if superseded_gives_up and write.name in self._pending:
                    return  # a newer write of this name is queued: it replaces this one
                log.debug(
                    "Workers KV %s of %s failed (%s); retrying", write.verb, write.name, _describe(error)
                )
                await asyncio.sleep(
                    backoff_delay(attempt, self._retries, self._rng, retry_after=_retry_after(error))
                )

    async def _perform(self, write: _Write) -> None:
        if write.value is None:
            await self.delete(write.name)
            return
        await self._put(write.name, write.value, write.ttl)

    # -- direct: awaited, raising -----------------------------------------------------------------------

    async def publish_key_now(self, key_hash: str, grant: KeyGrant) -> None:
        """Write a key grant now, with retries; raise when it cannot be written (the CLI's path)."""
        if self._client is None:
            return
        await self._perform_with_retries(_Write(key_name(key_hash), grant.to_json().encode()))

    async def list_dead_letters(self, limit: int = 100) -> list[str]:
        """Up to ``limit`` ``deadletter:*`` names (one listing; KV listings lag writes by up to 60 s)."""
        if self._client is None or limit <= 0:
            return []
        page_size = min(max(limit, _LIST_PAGE[0]), _LIST_PAGE[1])
        page = await self._client.kv.namespaces.keys.list(
            self._namespace_id, account_id=self._account_id, prefix=DEAD_LETTER_PREFIX, limit=page_size
        )
        return [key.name for key in page.result][:limit]

    async def get(self, name: str) -> str | None:
        if self._client is None:
            return None
        try:
            response = await self._client.kv.namespaces.values.get(
                name, account_id=self._account_id, namespace_id=self._namespace_id
            )
        except cloudflare.NotFoundError:
            return None
        return (await response.read()).decode("utf-8", errors="replace")

    async def put(self, name: str, value: str, *, expiration_ttl: int | None = None) -> None:
        if self._client is None:
            return
        await self._put(name, value.encode(), expiration_ttl)

    async def delete(self, name: str) -> None:
        if self._client is None:
            return
        await self._client.kv.namespaces.values.delete(
            name, account_id=self._account_id, namespace_id=self._namespace_id
        )

    async def _put(self, name: str, value: bytes, ttl: int | None) -> None:
        assert self._client is not None
        # bytes, not str: the SDK (5.x) sends the value as a multipart file part and refuses a str.
        await self._client.kv.namespaces.values.update(
            name,
            account_id=self._account_id,
            namespace_id=self._namespace_id,
            value=value,
            expiration_ttl=cloudflare.omit if ttl is None else ttl,
        )


def _retryable(error: Exception) -> bool:
    if isinstance(error, cloudflare.APIConnectionError):  # includes timeouts
        return True
    if isinstance(error, cloudflare.APIStatusError):
        return error.status_code >= 500 or error.status_code in _RETRYABLE_STATUS
    return False


def _retry_after(error: Exception) -> float | None:
    if not isinstance(error, cloudflare.RateLimitError):
        return None
    raw = error.response.headers.get("retry-after", "")
    try:
        return float(raw)
    except ValueError:
        return None


def _describe(error: Exception) -> str:
    """The error's class and status only: Cloudflare's messages may echo what we sent."""
    if isinstance(error, cloudflare.APIStatusError):
        return f"{type(error).__name__}, HTTP {error.status_code}"
    return type(error).__name__
