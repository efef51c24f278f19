import json
import uuid

import pytest

from origin.stores.postgres import KeyRecord
from origin.usage.envelopes import EnvelopeKeyMismatch, accept_envelopes
from tests.origin.helpers import edge_usage_row


class CountingKeys:
    def __init__(self, *records: KeyRecord) -> None:
        self.records = {f"hash-{record.key_id}": record for record in records}
        self.lookups: list[str] = []

    async def lookup(self, hashed: str) -> KeyRecord | None:
        self.lookups.append(hashed)
        return self.records.get(hashed)


def _record() -> KeyRecord:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    return KeyRecord(ids[0], "active", "pk-", ids[1], "project", ids[2], "org")


def _batch(*records: KeyRecord) -> bytes:
    envelopes = [
        {"key_hash": f"hash-{record.key_id}", "row": json.loads(edge_usage_row(record).to_wire())}
        for record in records
    ]
    return json.dumps({"rows": envelopes}).encode()


async def test_a_batch_looks_each_key_up_once_and_keeps_its_rows_in_order() -> None:
    first, second = _record(), _record()
    keys = CountingKeys(first, second)
    rows = await accept_envelopes(keys, _batch(first, second, first, first, second))
    assert [row.key_id for row in rows] == [r.key_id for r in (first, second, first, first, second)]
    assert keys.lookups == [f"hash-{first.key_id}", f"hash-{second.key_id}"]


async def test_a_key_seen_once_still_vouches_only_for_its_own_rows() -> None:
    first, second = _record(), _record()
    keys = CountingKeys(first, second)
    forged = json.loads(_batch(first, second))
    forged["rows"][1]["key_hash"] = f"hash-{first.key_id}"  # the second row under the first key
    with pytest.raises(EnvelopeKeyMismatch, match="Row 1 of the batch"):
        await accept_envelopes(keys, json.dumps(forged).encode())
