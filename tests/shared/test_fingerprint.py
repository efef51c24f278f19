import math
import random
from types import MappingProxyType
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.fingerprint import IGNORED_FIELDS, fingerprint

json_leaf = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.text()
)
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
bodies = st.dictionaries(st.text(max_size=10), json_value, max_size=6)
scopes = st.text(min_size=1, max_size=20)


def _shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


@given(scopes, bodies, st.randoms())
def test_key_order_never_matters(scope: str, body: dict[str, Any], rng: random.Random) -> None:
    assert fingerprint(scope, body) == fingerprint(scope, _shuffled(body, rng))


class _Text(str):
    pass


def _other_containers(value: Any) -> Any:
    """The same value as read-only mappings, tuples and a ``str`` subclass (not what a parser makes)."""
    if isinstance(value, dict):
        return MappingProxyType({_Text(key): _other_containers(item) for key, item in value.items()})
    if isinstance(value, list):
        return tuple(_other_containers(item) for item in value)
    return _Text(value) if isinstance(value, str) else value


@given(scopes, bodies)
def test_other_mappings_and_sequences_read_as_dicts_and_lists(scope: str, body: dict[str, Any]) -> None:
    assert fingerprint(scope, body) == fingerprint(scope, _other_containers(body))


@given(scopes, scopes, bodies)
def test_scope_always_matters(first: str, second: str, body: dict[str, Any]) -> None:
    if first != second:
        assert fingerprint(first, body) != fingerprint(second, body)


@given(scopes, bodies, st.dictionaries(st.sampled_from(sorted(IGNORED_FIELDS)), json_value))
def test_ignored_fields_never_matter(scope: str, body: dict[str, Any], noise: dict[str, Any]) -> None:
    clean = {key: value for key, value in body.items() if key not in IGNORED_FIELDS}
    assert fingerprint(scope, clean) == fingerprint(scope, {**clean, **noise})


@given(scopes, bodies, st.text(max_size=10).filter(lambda key: key not in IGNORED_FIELDS), json_value)
def test_every_other_field_matters(scope: str, body: dict[str, Any], key: str, value: Any) -> None:
    changed = {**body, key: [value, "changed"]}
    if body.get(key) != changed[key]:
        assert fingerprint(scope, body) != fingerprint(scope, changed)


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_integral_floats_equal_integers(number: int) -> None:
    assert fingerprint("p", {"temperature": float(number)}) == fingerprint("p", {"temperature": number})


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_are_rejected(bad: float) -> None:
    with pytest.raises(ValueError):
        fingerprint("p", {"temperature": bad})


def test_mode_none_means_balanced_and_modes_differ() -> None:
    body = {"model": "auto", "messages": []}
    assert fingerprint("p", body) == fingerprint("p", body, mode="balanced")
    assert fingerprint("p", body, mode="cheap") != fingerprint("p", body, mode="quality")
    assert fingerprint("p", body) != fingerprint("p", body, model_prefer="m")


def test_output_is_64_hex() -> None:
    value = fingerprint("p", {"a": 1})
    assert len(value) == 64 and int(value, 16) >= 0
