"""msgspec's check of a batch accepts only what ``UsageRow.from_dict`` accepts, and makes the same rows."""

import json

from hypothesis import given
from hypothesis import strategies as st

from origin.usage import edge_batch
from shared.usage import COLUMNS, UsageRow
from tests.shared.test_usage import rows

_ODD_VALUES: tuple[object, ...] = (
    *(None, "", "x" * 257, "x" * 256, -1, 0, 3, 2**70, True, False, 0.5, -0.5, 1.0, 1e308),
    *([], {}, {"a": 1}, {"a": "b"}, "miss", "hit-exact-edge", "2026-01-01T00:00:00"),
    *("2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00Z", "2026-01-01 00:00:00+05:30"),
    *("A0000000-0000-4000-8000-000000000000", "a0000000-0000-4000-8000-000000000000", "a0000000"),
)


def _body(*wire_rows: dict[str, object]) -> bytes:
    return json.dumps({"rows": [{"key_hash": "h", "row": row} for row in wire_rows]}).encode()


@given(st.lists(rows, min_size=1, max_size=3))
def test_rows_a_tier_wrote_are_decoded_as_they_were(made: list[UsageRow]) -> None:
    assert edge_batch.decoded(_body(*(json.loads(row.to_wire()) for row in made))) == [("h", r) for r in made]


def test_only_what_the_field_checks_accept_is_decoded_and_as_they_would() -> None:
    base = json.loads(UsageRow(org_id="o", project_id="p", key_id="k", request_tags={"a": "b"}).to_wire())
    variants = [{**base, name: value} for name in [*COLUMNS, "surprise"] for value in _ODD_VALUES]
    variants += [{key: value for key, value in base.items() if key != name} for name in COLUMNS]
    differing = []
    for wire in variants:
        decoded = edge_batch.decoded(_body(wire))
        try:
            expected = [("h", UsageRow.from_dict(json.loads(json.dumps(wire))))]
        except ValueError:
            expected = None
        if decoded is not None and decoded != expected:  # refusing what from_dict takes only costs time
            differing.append(wire)
    assert differing == []


def test_anything_but_a_plain_batch_is_left_to_the_field_checks() -> None:
    good = json.loads(UsageRow(org_id="o", project_id="p", key_id="k").to_wire())
    assert edge_batch.decoded(_body(good)) is not None
    for body in (b"", b"[]", b'{"rows": []}', b'{"key_hash": "h", "row": {}}', b'{"rows": [1]}', b"{NaN}"):
        assert edge_batch.decoded(body) is None
    assert edge_batch.decoded(json.dumps({"rows": [{"key_hash": "h", "row": good, "x": 1}]}).encode()) is None
