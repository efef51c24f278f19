"""Server-sent events: decoding an upstream stream (``shared.replay`` encodes the downstream one)."""

from typing import Final

from origin.providers.base import SSEEvent

# Far past any real chunk; what an upstream that never ends a line or an event may make us hold.
MAX_EVENT_BYTES: Final = 8 * 1024 * 1024


class EventTooLarge(ValueError):
    pass


class SSEDecoder:
    """Feed it the stream's bytes as they arrive, in pieces of any size; it returns the events the
    pieces completed (each ends at a blank line). A line split across two pieces waits for its end.
    An event (its unfinished line included) past ``max_event_bytes`` raises ``EventTooLarge``; bytes
    that are not UTF-8 raise ``UnicodeDecodeError``."""

    def __init__(self, max_event_bytes: int = MAX_EVENT_BYTES) -> None:
        self._limit = max_event_bytes
        self._pending: list[bytes] = []  # the pieces of a line whose end has not arrived yet
        self._pending_size = 0
        self._data: list[str] = []
        self._data_size = 0
        self._event: str | None = None

    def feed(self, piece: bytes) -> list[SSEEvent]:
        if b"\n" not in piece:  # kept as pieces: a long line in small reads is not copied each time
            self._pending.append(piece)
            self._pending_size += len(piece)
            self._check()
            return []
        # The complete lines are decoded at once: a newline never falls inside a UTF-8 sequence.
        complete, _, rest = piece.rpartition(b"\n")
        if self._pending:
            complete = b"".join([*self._pending, complete])
        self._pending = [rest] if rest else []
        self._pending_size = len(rest)
        events: list[SSEEvent] = []
        for line in complete.decode("utf-8").split("\n"):
            line = line.removesuffix("\r")
            if line.startswith("data:"):  # what nearly every line is, taken without a call
                value = line[6:] if line.startswith("data: ") else line[5:]
                self._data.append(value)
                self._data_size += len(value)
                self._check()
            elif (event := self._line(line)) is not None:
                events.append(event)
        self._check()
        return events

    def close(self) -> SSEEvent | None:
        """An event left without its closing blank line."""
        if self._pending:
            partial, self._pending = b"".join(self._pending), []
            self._line(partial.decode("utf-8").removesuffix("\r"))
        return self._dispatch()

    def _line(self, line: str) -> SSEEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
            self._data_size += len(value)
            self._check()
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event)
        self._data, self._data_size, self._event = [], 0, None
        return event

    def _check(self) -> None:
        if self._pending_size + self._data_size > self._limit:
            raise EventTooLarge(f"an event longer than {self._limit:,} bytes")
