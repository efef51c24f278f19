import json
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.usage import CACHE_STATUSES, COLUMNS, UsageRow, new_request_id


def _row(**fields: Any) -> UsageRow:
    return UsageRow(org_id="o", project_id="p", key_id="k", **fields)


rows = st.builds(
    UsageRow,
    org_id=st.uuids().map(str),
    project_id=st.uuids().map(str),
    key_id=st.uuids().map(str),
    created_at=st.datetimes(timezones=st.just(UTC)),
    tokens_in=st.integers(0, 10**7),
    cost_provider_cents=st.floats(0, 10**6),
    session_id=st.none() | st.from_regex(r"[!-~]{1,128}", fullmatch=True),
    request_tags=st.none()
    | st.dictionaries(st.text(min_size=1, max_size=64), st.text(min_size=1, max_size=64)),
    cache_status=st.sampled_from(sorted(CACHE_STATUSES)),
    edge_region=st.none() | st.sampled_from(["SIN", "FRA"]),
)


@given(rows)
def test_wire_round_trip(row: UsageRow) -> None:
    assert UsageRow.from_wire(row.to_wire()) == row


def test_sub_cent_costs_survive_the_wire() -> None:
    row = _row(cost_provider_cents=0.0031, cost_total_cents=0.0031)
    assert UsageRow.from_wire(row.to_wire()).cost_provider_cents == 0.0031


def test_columns_cover_the_contract() -> None:
    assert {
        "request_id",
        "created_at",
        "org_id",
        "project_id",
        "key_id",
        "mode",
        "task_type",
        "model_used",
        "provider",
        "tokens_in",
        "tokens_out",
        "tokens_cached_in",
        "cost_provider_cents",
        "cost_total_cents",
        "latency_ms",
        "was_streaming",
        "success",
        "error_code",
        "session_id",
        "request_tags",
        "cache_status",
        "cache_saved_cents",
        "edge_region",
    } <= set(COLUMNS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("request_id", "not-a-uuid"),
        ("created_at", "2026-01-01T00:00:00"),
        ("tokens_in", -1),
        ("tokens_in", True),
        ("success", "yes"),
        ("cache_status", "hit-maybe"),
        ("cache_status", ["miss"]),
        ("request_tags", {"a": 1}),
        ("cost_total_cents", float("nan")),
        ("org_id", "x" * 300),
    ],
)
def test_from_wire_rejects_bad_fields(field: str, value: object) -> None:
    data = json.loads(_row().to_wire())
    data[field] = value
    with pytest.raises(ValueError, match=field):
        UsageRow.from_wire(json.dumps(data))


def test_from_wire_rejects_unknown_and_missing_fields() -> None:
    data = json.loads(_row().to_wire())
    with pytest.raises(ValueError, match="unknown"):
        UsageRow.from_wire(json.dumps({**data, "surprise": 1}))
    del data["org_id"]
    with pytest.raises(ValueError, match="org_id"):
        UsageRow.from_wire(json.dumps(data))
    with pytest.raises(ValueError):
        UsageRow.from_wire("[]")


def test_created_at_is_timezone_aware() -> None:
    assert _row().created_at.tzinfo is not None
    assert isinstance(_row().created_at, datetime)


def test_request_ids_are_random_uuids_in_canonical_form() -> None:
    ids = [new_request_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for request_id in ids:
        parsed = uuid.UUID(request_id)
        assert (parsed.version, parsed.variant) == (4, uuid.RFC_4122)
        assert str(parsed) == request_id
    # Every digit outside the version and variant bits varies.
    bits = [int(request_id.replace("-", ""), 16) for request_id in ids]
    fixed = {127 - 48 - i for i in range(4)} | {127 - 64, 127 - 65}
    for bit in set(range(128)) - fixed:
        assert 0 < sum(value >> bit & 1 for value in bits) < len(bits)
