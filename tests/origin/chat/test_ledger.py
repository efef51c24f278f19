"""The ledger: one row per request, settled once, and finalizers started only when they have work."""

from collections.abc import Coroutine
from typing import Any

from origin.chat.ledger import Ledger
from origin.stores.postgres import KeyRecord
from shared.usage import UsageRow

KEY = KeyRecord("key-1", "active", "pk_", "proj-1", "Project", "org-1", "Org")


async def _work(row: UsageRow) -> None:
    pass


def test_settling_submits_the_row_once_and_starts_only_the_finalizers_with_work() -> None:
    rows: list[UsageRow] = []
    started: list[Coroutine[Any, Any, Any]] = []
    ledger = Ledger(KEY, rows.append, started.append)
    ledger.after(lambda row: None)  # e.g. a lock already released: nothing to do
    ledger.after(_work)

    ledger.settle()
    ledger.settle()

    assert [row.request_id for row in rows] == [ledger.request_id]
    assert len(started) == 1
    for coroutine in started:
        coroutine.close()
