"""Server-sent events: decoding an upstream stream (``shared.replay`` encodes the downstream one)."""

from origin.providers.base import SSEEvent


class SSEDecoder:
    """Feed it the stream's bytes as they arrive, in pieces of any size; it returns the events the
    pieces completed (each ends at a blank line). A line split across two pieces waits for its end."""

    def __init__(self) -> None:
        self._partial = b""
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, piece: bytes) -> list[SSEEvent]:
        *lines, self._partial = (self._partial + piece).split(b"\n")
        events: list[SSEEvent] = []
        for raw in lines:
            event = self._line(raw.decode("utf-8").removesuffix("\r"))
            if event is not None:
                events.append(event)
        return events

    def close(self) -> SSEEvent | None:
        """An event left without its closing blank line."""
        if self._partial:
            partial, self._partial = self._partial, b""
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
