import json
from datetime import datetime

from origin.usage import row_json
from shared.usage import COLUMNS, UsageRow
from tests.origin.usage.rows import make_row


def test_a_line_reads_back_as_the_row_it_was() -> None:
    row = make_row(model_used="alpha", request_tags={"feature": "ß"}, cost_total_cents=0.0031, session_id="s")
    assert UsageRow.from_wire(row_json.line(row)) == row and row_json.line(row).endswith(b"\n")
    naive = make_row(created_at=datetime(2026, 12, 7, 1, 2, 3))  # read back as UTC, never refused
    assert UsageRow.from_wire(row_json.line(naive)).created_at.tzinfo is not None
    huge = make_row(tokens_in=2**70)  # past what orjson writes: the standard library's line instead
    assert UsageRow.from_wire(row_json.line(huge)).tokens_in == 2**70


def test_an_array_holds_every_column_of_every_row_with_money_as_its_shortest_decimal_text() -> None:
    rows = [make_row(cost_total_cents=0.0031), make_row(tokens_in=2**70, cache_saved_cents=1e-7)]
    text = row_json.array(rows).decode()
    decoded = json.loads(text)
    assert [UsageRow.from_dict(item) for item in decoded] == rows
    assert all(item.keys() == set(COLUMNS) for item in decoded)  # a missing key would be stored as NULL
    assert '"cost_total_cents":0.0031,' in text
