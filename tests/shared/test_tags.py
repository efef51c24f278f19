from hypothesis import given
from hypothesis import strategies as st

from shared.tags import MAX_LENGTH, MAX_TAGS, format_tags, parse_tags

pairs = st.lists(st.tuples(st.text(max_size=80), st.text(max_size=80)), max_size=30)


def _header(items: list[tuple[str, str]]) -> str:
    return ",".join(f"{key}={value}" for key, value in items)


@given(st.text())
def test_never_raises_and_respects_bounds(value: str) -> None:
    tags = parse_tags(value)
    if tags is not None:
        assert 0 < len(tags) <= MAX_TAGS
        assert all(0 < len(key) <= MAX_LENGTH and 0 < len(val) <= MAX_LENGTH for key, val in tags.items())


@given(pairs)
def test_bounds_on_structured_headers(items: list[tuple[str, str]]) -> None:
    tags = parse_tags(_header(items))
    assert tags is None or len(tags) <= MAX_TAGS


@given(st.text())
def test_idempotent_on_its_own_serialisation(value: str) -> None:
    tags = parse_tags(value)
    if tags is not None and not any("," in key + val or "=" in key for key, val in tags.items()):
        assert parse_tags(format_tags(tags)) == tags


@given(
    st.dictionaries(
        st.from_regex(r"[a-z]{1,70}", fullmatch=True), st.from_regex(r"[a-z0-9]{1,70}", fullmatch=True)
    )
)
def test_clean_pairs_survive_truncated_and_in_order(source: dict[str, str]) -> None:
    tags = parse_tags(_header(list(source.items())))
    expected: dict[str, str] = {}
    for key, val in source.items():
        short = key[:MAX_LENGTH]
        if short not in expected and len(expected) < MAX_TAGS:
            expected[short] = val[:MAX_LENGTH]
    assert tags == (expected or None)


def test_ten_thousand_pairs_keeps_first_ten() -> None:
    tags = parse_tags(",".join(f"k{i}=v" for i in range(10_000)))
    assert tags is not None and list(tags) == [f"k{i}" for i in range(10)]
