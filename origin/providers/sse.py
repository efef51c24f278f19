"""Server-sent events: decoding an upstream stream (``shared.replay`` encodes the downstream one)."""

from origin.providers.base import SSEEvent


class SSEDecoder:
    """Feed it the stream's bytes as they arrive, in pieces of any size; it returns the events the
    pieces completed (each ends at a blank line). A line split across two pieces waits for its end."""

    def __init__(self) -> None:
        self._pending: list[bytes] = []  # the pieces of a line whose end has not arrived yet
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, piece: bytes) -> list[SSEEvent]:
        if b"\n" not in piece:  # kept as pieces: a long line in small reads is not copied each time
            self._pending.append(piece)
            return []
        *lines, rest = piece.split(b"\n")
        if self._pending:
            lines[0] = b"".join([*self._pending, lines[0]])
        self._pending = [rest] if rest else []
        events: list[SSEEvent] = []
        for raw in lines:
            event = self._line(raw.decode("utf-8").removesuffix("\r"))
            if event is not None:
                events.append(event)
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
        elif name == "event":
            self._event = value
        return None

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event)
        self._data, self._event = [], None
        return event
