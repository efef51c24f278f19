"""One chat-completions exchange over plain HTTP, read as bytes: no client library smooths the wire."""

import json
from dataclasses import dataclass
from typing import Any

import aiohttp
from multidict import CIMultiDictProxy


@dataclass(frozen=True)
class Exchange:
    status: int
    headers: CIMultiDictProxy[str]
    raw: bytes

    def json(self) -> Any:
        return json.loads(self.raw)

    def events(self) -> list[str]:
        """The ``data:`` payloads of an SSE body, in order (``[DONE]`` included)."""
        payloads = []
        for frame in self.raw.decode("utf-8").split("\n\n"):
            data = [line[5:].removeprefix(" ") for line in frame.splitlines() if line.startswith("data:")]
            if data:
                payloads.append("\n".join(data))
        return payloads


async def post_chat(
    base_url: str,
    key: str | None,
    body: Any,
    headers: dict[str, str] | None = None,
    *,
    raw: bytes | None = None,
) -> Exchange:
    sent = {"Content-Type": "application/json", **(headers or {})}
    if key is not None:
        sent["Authorization"] = f"Bearer {key}"
    data = raw if raw is not None else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session,
        session.post(base_url + "/v1/chat/completions", data=data, headers=sent) as response,
    ):
        return Exchange(response.status, response.headers, await response.read())
