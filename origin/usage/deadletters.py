"""The dead-letter sweep: usage the edge could not deliver reaches ``usage_logs`` through KV.

When ``POST /internal/usage`` keeps failing, the edge writes ``deadletter:<request_id>`` with the
envelope it would have posted, sealed as it would have signed it::

    {"body": "<the exact envelope JSON text that was signed>", "signature": "<hex>", "timestamp": 1700000000}

(``signature`` is ``shared.signing.sign(body, timestamp, secret)``, the ``X-Prism-Signature`` of
the POST it replaces.) A sweep lists the names, reads each value, checks the signature, validates the
envelope exactly as the endpoint does (``accept_envelope``), hands the row to the usage writer, waits
until the writer holds it durably (Postgres or its fsynced spool), and only then deletes the name.

- The signature's timestamp is not held to the endpoint's five-minute window: a dead letter is old by
  nature, and KV is trusted storage that only our Worker writes. The HMAC itself is still checked.
- Idempotent: usage inserts are ``ON CONFLICT DO NOTHING`` on the row's (request_id, created_at), so a
  letter swept twice (two origin instances, a crash before the delete, KV listings that lag deletes) is
  one row.
- A letter that can never be accepted (bad seal, bad signature, malformed row, key mismatch, a row
  made after its key was revoked) is moved to ``deadletter-rejected:<request_id>`` for 30 days, so
  that a bug or a version skew between the tiers loses nothing, and is logged with its request id
  only. Anything else (Postgres or KV down) leaves the letter for the next sweep.
"""

import logging
from collections.abc import Awaitable, Callable
from typing import Final

from origin.ops.periodic import Periodic
from origin.stores.kv import KVPublisher
from origin.usage.envelopes import EnvelopeRejected, KeyLookup, accept_envelope
from shared.edgekv import DEAD_LETTER_PREFIX, open_dead_letter
from shared.usage import UsageRow

log = logging.getLogger("prism.deadletters")

REJECTED_PREFIX: Final = "deadletter-rejected:"
REJECTED_TTL_SECONDS: Final = 30 * 24 * 3600
BATCH: Final = 100

Ingest = Callable[[bytes], Awaitable[None]]


class RejectedLetter(Exception):
    """A dead letter that will never be accepted; the message is a reason without any of its content."""


def envelope_ingest(keys: KeyLookup, record: Callable[[UsageRow], None], secret: str) -> Ingest:
    """The sweeper's ``ingest``: open, validate as ``POST /internal/usage`` does, then ``record``
    (the app's usage sink, so a swept row is counted and logged like any other)."""

    async def ingest(raw: bytes) -> None:
        try:
            body = open_dead_letter(raw, secret)
        except ValueError as error:
            raise RejectedLetter(str(error)) from None
        try:
            row = await accept_envelope(keys, body)
        except EnvelopeRejected as error:
            raise RejectedLetter(error.code) from None
        record(row)

    return ingest


class DeadLetterSweeper:
    def __init__(
        self,
        publisher: KVPublisher,
        ingest: Ingest,
        *,
        interval: float,
        durable: Callable[[], Awaitable[None]] | None = None,
        batch: int = BATCH,
    ) -> None:
        """``durable`` is awaited after a batch is ingested and before its names are deleted: the app
        passes the usage writer's ``flush``."""
        self._publisher = publisher
        self._ingest = ingest
        self._durable = durable
        self._batch = batch
        self._sweeping = Periodic("dead-letters", self._sweep_full, every=interval, retry_after=interval)

    def start(self) -> None:
        if self._publisher.enabled:
            self._sweeping.start()

    async def stop(self) -> None:
        """Stop sweeping. Cancelling mid-sweep is safe: a name is deleted only after its row is durable."""
        await self._sweeping.stop()

    async def sweep_once(self) -> int:
        """Ingest one batch of dead letters; the number of rows handed to the writer."""
        names = await self._publisher.list_dead_letters(self._batch)
        accepted: list[str] = []
        for name in names:
            if await self._take(name):
                accepted.append(name)
        if accepted and self._durable is not None:
            await self._durable()
        for name in accepted:
            await self._delete(name)
        if accepted:
            log.info("ingested %d dead-lettered usage rows from Workers KV", len(accepted))
        return len(accepted)

    async def _take(self, name: str) -> bool:
        request_id = name[len(DEAD_LETTER_PREFIX) :]
        try:
            raw = await self._publisher.get(name)
            if raw is None:
                return False  # already swept (a listing can lag a delete)
            try:
                await self._ingest(raw.encode("utf-8"))
            except RejectedLetter as error:
                log.warning("dead letter %s rejected (%s); kept as %s", request_id, error, REJECTED_PREFIX)
                await self._set_aside(name, request_id, raw)
                return False
        except Exception as error:
            log.warning("dead letter %s not ingested yet (%s)", request_id, type(error).__name__)
            return False
        return True

    async def _set_aside(self, name: str, request_id: str, raw: str) -> None:
        try:
            await self._publisher.put(REJECTED_PREFIX + request_id, raw, expiration_ttl=REJECTED_TTL_SECONDS)
            await self._publisher.delete(name)
        except Exception as error:
            log.warning("dead letter %s not set aside yet (%s)", request_id, type(error).__name__)

    async def _delete(self, name: str) -> None:
        try:
            await self._publisher.delete(name)
        except Exception as error:  # swept again later: the insert is idempotent
            log.warning(
                "dead letter %s not deleted yet (%s)", name[len(DEAD_LETTER_PREFIX) :], type(error).__name__
            )

    async def _sweep_full(self) -> bool:
        """One batch; ``True`` when it was full (more letters may be waiting)."""
        return await self.sweep_once() >= self._batch
