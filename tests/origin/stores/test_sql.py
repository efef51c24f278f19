import pytest

from origin.stores.sql import parse_named_queries, queries


def test_named_queries_are_split_and_trimmed() -> None:
    text = "-- name: one\nSELECT 1;\n\n-- name: two\nSELECT 2\nFROM t;\n"
    assert parse_named_queries(text) == {"one": "SELECT 1", "two": "SELECT 2\nFROM t"}


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        parse_named_queries("-- name: a\nSELECT 1;\n-- name: a\nSELECT 2;")


def test_project_queries_load() -> None:
    assert "key_by_hash" in queries()
