"""Server-sent events: decoding an upstream stream (``shared.replay`` encodes the downstream one)."""

from origin.providers.base import SSEEvent


class SSEDecoder:
    """Feed it lines (with or without line endings); it returns an event at each blank line."""

    def __init__(self) -> None:
        self._data: list[str] = []
        self._event: str | None = None

    def feed(self, raw: bytes) -> SSEEvent | None:
        line = raw.decode("utf-8").rstrip("\r\n")
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

    def close(self) -> SSEEvent | None:
        """An event left without its closing blank line."""
        return self._dispatch()

    def _dispatch(self) -> SSEEvent | None:
        if not self._data:
            self._event = None
            return None
        event = SSEEvent(data="\n".join(self._data), event=self._event)
        self._data, self._event = [], None
        return event
