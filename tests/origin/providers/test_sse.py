from origin.providers.sse import SSEDecoder
from shared.replay import sse_event


def _decode(raw: bytes) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    events = [decoder.feed(line) for line in raw.splitlines(keepends=True)]
    events.append(decoder.close())
    return [(e.event, e.data) for e in events if e is not None]


def test_data_event_and_multiline() -> None:
    raw = b'data: {"a":1}\n\nevent: message_start\ndata: x\ndata: y\n\n: comment\n\ndata: [DONE]\n\n'
    assert _decode(raw) == [(None, '{"a":1}'), ("message_start", "x\ny"), (None, "[DONE]")]


def test_crlf_and_unterminated_last_event() -> None:
    assert _decode(b"data:no-space\r\n\r\ndata: tail") == [(None, "no-space"), (None, "tail")]


def test_encode_round_trip() -> None:
    assert _decode(sse_event({"x": "é"})) == [(None, '{"x":"é"}')]
