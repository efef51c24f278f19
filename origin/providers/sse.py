"""Server-sent events: decode an upstream stream, encode the downstream one."""

import json
from typing import Any

from origin.providers.base import SSEEvent
from shared.replay import DONE

__all__ = ["DONE", "SSEDecoder", "encode"]


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


def encode(payload: Any) -> bytes:
    return (
        b"data: " + json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n\n"
    )
