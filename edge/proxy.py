"""Passthrough: where a forwarded request goes and which headers cross the edge (all but hop-by-hop)."""

from collections.abc import Iterable, Mapping
from typing import Final

from shared.headers import EDGE_FORWARDED

# RFC 9110 §7.6.1 connection-specific fields, plus Host, which the runtime sets from the origin URL.
HOP_BY_HOP: Final = frozenset(
    {"connection", "keep-alive", "te", "trailer", "transfer-encoding", "upgrade", "host"}
)

Pairs = Iterable[tuple[str, str]]


def origin_target(origin_url: str, path: str, query: str) -> str:
    """``ORIGIN_URL`` + the request's path and query, byte for byte."""
    return origin_url.rstrip("/") + path + (f"?{query}" if query else "")


def _end_to_end(pairs: Pairs) -> list[tuple[str, str]]:
    pairs = list(pairs)
    # Fields named in Connection are hop-by-hop for this message too.
    named = {
        token.strip().lower()
        for name, value in pairs
        if name.lower() == "connection"
        for token in value.split(",")
    }
    return [
        (name, value)
        for name, value in pairs
        if (lowered := name.lower()) not in HOP_BY_HOP
        and lowered not in named
        and not lowered.startswith("proxy-")
    ]


def request_headers(pairs: Pairs, extra: Mapping[str, str]) -> list[tuple[str, str]]:
    """The client's headers as the origin receives them, with the edge's own ``extra`` set
    (and the edge's forwarding stamp never taken from the client)."""
    replaced = {name.lower() for name in extra} | {EDGE_FORWARDED.lower()}
    kept = [(name, value) for name, value in _end_to_end(pairs) if name.lower() not in replaced]
    return kept + list(extra.items())


def response_headers(pairs: Pairs, extra: Mapping[str, str]) -> list[tuple[str, str]]:
    """The origin's headers as the client receives them, with the edge's own ``extra`` set."""
    replaced = {name.lower() for name in extra}
    kept = [(name, value) for name, value in _end_to_end(pairs) if name.lower() not in replaced]
    return kept + list(extra.items())
