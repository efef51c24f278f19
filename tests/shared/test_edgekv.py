import json

import pytest

from shared.edgekv import (
    EdgeCacheEntry,
    KeyGrant,
    cache_name,
    dead_letter_name,
    generations_match,
    key_name,
    open_dead_letter,
    seal_dead_letter,
)


def test_names() -> None:
    assert (key_name("ab"), cache_name("cd"), dead_letter_name("ef")) == (
        "key:ab",
        "cache:cd",
        "deadletter:ef",
    )


def test_grant_round_trip_and_validation() -> None:
    grant = KeyGrant(key_id="k", project_id="p", org_id="o", active=True, edge_cache=False, generation="g1")
    assert KeyGrant.from_json(grant.to_json()) == grant
    legacy = '{"key_id": "k", "project_id": "p", "org_id": "o", "active": true, "edge_cache": false}'
    assert KeyGrant.from_json(legacy).generation == ""  # still a grant (a revoke still counts), never a hit
    newer = json.dumps(json.loads(grant.to_json()) | {"added_later": 1})
    assert KeyGrant.from_json(newer) == grant
    for bad in [
        json.dumps(json.loads(grant.to_json()) | {"generation": 1}),
        '{"key_id": "k"}',
        "[]",
        '{"key_id": 1, "project_id": "p", "org_id": "o", "active": true, "edge_cache": true}',
        '{"key_id": "k", "project_id": "p", "org_id": "o", "active": "yes", "edge_cache": true}',
    ]:
        with pytest.raises(ValueError):
            KeyGrant.from_json(bad)


def test_cache_entry_round_trip_and_validation() -> None:
    entry = EdgeCacheEntry(
        response={"id": "x", "choices": [], "model": "m", "created": 1},
        model="m",
        tokens_in=1,
        tokens_out=2,
        tokens_cached_in=0,
        cost_cents=0.0031,
        generation="g1",
    )
    assert EdgeCacheEntry.from_json(entry.to_json()) == entry
    legacy = {name: value for name, value in json.loads(entry.to_json()).items() if name != "generation"}
    assert EdgeCacheEntry.from_json(json.dumps(legacy)).generation == ""
    for bad in [
        json.dumps(legacy | {"response": {}}),
        json.dumps(legacy | {"generation": None}),
    ]:
        with pytest.raises(ValueError):
            EdgeCacheEntry.from_json(bad)


def test_an_entry_is_servable_only_under_a_grant_of_its_generation() -> None:
    assert generations_match("g1", "g1")
    assert not generations_match("g1", "g0") and not generations_match("", "")


def test_dead_letters_open_only_with_the_right_secret_and_shape() -> None:
    body = b'{"key_hash": "k", "row": {}}'
    sealed = seal_dead_letter(body, 1_700_000_000, "s" * 20)
    assert open_dead_letter(sealed, "s" * 20) == body
    for raw, secret in [
        (sealed, "t" * 20),
        ("[]", "s" * 20),
        ('{"body": 1}', "s" * 20),
        ("not json", "s" * 20),
    ]:
        with pytest.raises(ValueError):
            open_dead_letter(raw, secret)
