from origin.http.headers import RequestHeaders
from shared import headers as h
from shared.request import parse_request_headers

RAW = [
    (b"authorization", b"Bearer pk_test"),
    (b"x-prism-mode", b"cheap"),
    (b"X-Prism-Session", b"s-1"),
    (b"x-prism-mode", b"quality"),
    (b"x-prism-tags", b"team=caf\xe9"),
]


def test_a_name_is_found_by_any_case() -> None:
    headers = RequestHeaders(RAW)
    assert headers.get("Authorization") == "Bearer pk_test"
    assert headers["AUTHORIZATION"] == "Bearer pk_test"
    assert headers.get(h.SESSION) == "s-1"  # sent in mixed case, read by the contract's spelling
    assert h.MODE in headers and "x-prism-mode" in headers


def test_a_repeated_header_reads_as_its_first_value() -> None:
    assert RequestHeaders(RAW).get(h.MODE) == "cheap"


def test_a_missing_header_is_the_default() -> None:
    headers = RequestHeaders(RAW)
    assert headers.get(h.MEMORY) is None
    assert headers.get(h.MEMORY, "off") == "off"
    assert h.MEMORY not in headers
    assert object() not in headers


def test_values_are_latin_1_as_in_asgi() -> None:
    assert RequestHeaders(RAW).get(h.TAGS) == "team=café"


def test_it_is_a_mapping_of_its_distinct_lowercase_names() -> None:
    headers = RequestHeaders(RAW)
    assert len(headers) == 4
    assert sorted(headers) == ["authorization", "x-prism-mode", "x-prism-session", "x-prism-tags"]
    assert dict(headers)["x-prism-session"] == "s-1"


def test_the_contract_parser_reads_it_as_it_reads_starlettes() -> None:
    from starlette.datastructures import Headers

    ours = parse_request_headers(RequestHeaders(RAW))
    starlettes = parse_request_headers(Headers(raw=[(name.lower(), value) for name, value in RAW]))
    assert ours == starlettes
    assert ours.mode == "cheap" and ours.session_id == "s-1"
