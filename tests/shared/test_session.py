import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.errors import InvalidHeader
from shared.session import ERROR_CODE, MAX_LENGTH, parse_session


@given(st.text())
def test_returns_valid_id_none_or_raises_invalid_header(value: str) -> None:
    try:
        session = parse_session(value)
    except InvalidHeader as error:
        assert error.code == ERROR_CODE
        return
    if session is not None:
        assert 1 <= len(session) <= MAX_LENGTH
        assert all(0x21 <= ord(ch) <= 0x7E for ch in session)


@given(st.from_regex(r"[!-~]{1,128}", fullmatch=True))
def test_printable_ids_round_trip(value: str) -> None:
    assert parse_session(f"  {value} ") == value


def test_invalid_header_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        parse_session("white space")
