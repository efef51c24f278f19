import pytest

from origin.providers.base import SSEEvent
from origin.providers.sse import EventTooLarge, SSEDecoder
from shared.replay import sse_event


def _decode(*pieces: bytes) -> list[tuple[str | None, str]]:
    decoder = SSEDecoder()
    events = [event for piece in pieces for event in decoder.feed(piece)]
    tail = decoder.close()
    return [(e.event, e.data) for e in [*events, *([tail] if tail else [])]]


def test_data_event_and_multiline() -> None:
    raw = b'data: {"a":1}\n\nevent: message_start\ndata: x\ndata: y\n\n: comment\n\ndata: [DONE]\n\n'
    assert _decode(raw) == [(None, '{"a":1}'), ("message_start", "x\ny"), (None, "[DONE]")]


def test_crlf_and_unterminated_last_event() -> None:
    assert _decode(b"data:no-space\r\n\r\ndata: tail") == [(None, "no-space"), (None, "tail")]


def test_events_split_anywhere_across_pieces_decode_the_same() -> None:
    raw = 'data: {"x":"é"}\r\n\r\nevent: ping\ndata: 1\n\n'.encode()
    whole = _decode(raw)
    assert whole == [(None, '{"x":"é"}'), ("ping", "1")]
    for cut in range(1, len(raw)):  # a cut inside the two bytes of "é" included
        assert _decode(raw[:cut], raw[cut:]) == whole
    assert _decode(*(raw[i : i + 1] for i in range(len(raw)))) == whole


def test_one_piece_can_complete_several_events() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b") == [SSEEvent(data="a")]
    assert decoder.feed(b"\n\n") == [SSEEvent(data="b")]


def test_encode_round_trip() -> None:
    assert _decode(sse_event({"x": "é"})) == [(None, '{"x":"é"}')]


def test_a_line_that_never_ends_is_refused_past_the_bound() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    for _ in range(9):
        assert decoder.feed(b"data: " + b"x" * 4) == []
    with pytest.raises(EventTooLarge):
        decoder.feed(b"y" * 20)


def test_an_event_that_never_ends_is_refused_past_the_bound() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    with pytest.raises(EventTooLarge):
        for _ in range(20):
            decoder.feed(b"data: " + b"x" * 10 + b"\n")


def test_events_under_the_bound_pass_and_each_event_starts_the_count_again() -> None:
    decoder = SSEDecoder(max_event_bytes=100)
    for _ in range(50):
        assert decoder.feed(b"data: " + b"x" * 60 + b"\n\n") == [SSEEvent(data="x" * 60)]
