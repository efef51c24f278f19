from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from origin.cache.canonical import fingerprint, orjson_canonical
from shared.fingerprint import canonical_bytes
from shared.fingerprint import fingerprint as shared_fingerprint

text = st.text(alphabet=st.characters(exclude_categories=["Cs"]))
keys = st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8)
# Every magnitude of float (exponents both ways), integers past 64 bits, any text but lone surrogates.
leaf = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False, min_value=-1e-3, max_value=1e-3),
    text,
)
values = st.recursive(
    leaf,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=8), inner, max_size=4
        )
    ),
    max_leaves=16,
)


@given(values)
def test_orjson_writes_the_bytes_json_writes(value: Any) -> None:
    assert canonical_bytes(value, orjson_canonical) == canonical_bytes(value)


@given(st.dictionaries(st.text(max_size=8), values, max_size=5), st.sampled_from(["balanced", "cheap", None]))
def test_the_origins_fingerprint_is_the_edges(body: dict[str, Any], mode: str | None) -> None:
    assert fingerprint("project", body, mode=mode) == shared_fingerprint("project", body, mode=mode)


def test_what_orjson_refuses_json_writes() -> None:
    # A float with an exponent (orjson: 1e-7) and an integer past 64 bits; an integral float is an int.
    assert canonical_bytes([1e-07, 2**70, 2.5e20, 0.5], orjson_canonical) == (
        b"[1e-07,1180591620717411303424,250000000000000000000,0.5]"
    )
