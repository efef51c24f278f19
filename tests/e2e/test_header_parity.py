"""The drift alarm: every Prism request header, valid and not, through an edge hit and through the
origin alone, gives the same status and error, and the edge's row equals the origin's."""

import asyncio
import json
from typing import Any, Final

import pytest

from shared import headers as h
from shared.edgekv import cache_name
from shared.fingerprint import fingerprint
from tests.e2e.conftest import Topology
from tests.edge.local_edge import node_missing

pytestmark = pytest.mark.skipif(node_missing() is not None, reason=node_missing() or "")

BODY: Final = {"model": "beta", "messages": [{"role": "user", "content": "write a python haiku"}]}
OVERSIZED: Final = "x" * 6000
# Valid and invalid values of each header; every header in shared.headers.REQUEST_HEADERS is here.
VARIANTS: Final[dict[str, list[str]]] = {
    h.SESSION: [
        "conv-1",
        "  conv-2  ",
        "",
        "has space",
        "tab\tinside",
        "del\x7fhere",
        "bell\x07",
        "ünïcode",
        "x" * 129,
        OVERSIZED,
    ],
    h.MODE: [
        "balanced",
        " BALANCED ",
        "",
        "cheap",
        "fastest",
        "bal\tanced",
        "chea\x7fp",
        "bälanced",
        OVERSIZED,
    ],
    h.MODEL_PREFER: ["beta", "", "has space", "bêta", "m" * 129, OVERSIZED],
    h.MEMORY: ["off", "auto", "OFF", "", "sometimes", "o\tff", OVERSIZED],
    h.CACHE_TTL: ["60", " 3600 ", "", "0", "ten", "604801", "-1", "9" * 5000, "1\t2"],
    h.SEMANTIC: ["off", "on", " Off ", "", "bogus", "o\tn", "ön", OVERSIZED],
    h.TAGS: [
        "feature=search,team=core",
        "",
        "bad",
        "k=v\tw",
        "k=v\x7f,good=1",
        "ключ=значение",
        ",".join(["k=v"] * 50),
        OVERSIZED,
    ],
    h.CACHE_CONTROL: ["no-store", "no-cache", "private, max-age=60", "", "garbage;;", OVERSIZED],
}
# Every other header a variant request carries: memory off, so a session alone does not bypass the edge.
BASE: Final = {h.MEMORY: "off"}
IGNORED_COLUMNS: Final = {"request_id", "created_at", "latency_ms", "cache_status", "edge_region"}


def test_the_parity_list_names_every_request_header() -> None:
    assert set(VARIANTS) == set(h.REQUEST_HEADERS)


def _dechunk(body: bytes) -> bytes:
    out, rest = b"", body
    while rest:
        size_line, _, rest = rest.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        if size == 0:
            break
        out, rest = out + rest[:size], rest[size + 2 :]
    return out


async def _send(url: str, key: str, headers: dict[str, str]) -> dict[str, Any]:
    """One request on a raw socket: HTTP clients refuse to send the control characters tested here."""
    host, port = url.removeprefix("http://").split(":")
    body = json.dumps(BODY).encode()
    lines = [
        "POST /v1/chat/completions HTTP/1.1",
        f"Host: {host}:{port}",
        f"Authorization: Bearer {key}",
        "Content-Type: application/json",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        writer.write("\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + body)
        await writer.drain()
        raw = await asyncio.wait_for(reader.read(), 60)
    finally:
        writer.close()
    head, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    received = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        received[name.strip().lower()] = value.strip()
    if received.get("transfer-encoding") == "chunked":
        payload = _dechunk(payload)
    try:
        error = json.loads(payload).get("error") or {}
    except ValueError:
        error = {}
    return {
        "status": int(status_line.split()[1]),
        "code": error.get("code"),
        "param": error.get("param"),
        "message": error.get("message"),
        "edge": received.get(h.EDGE_CACHE.lower()),
        "request_id": received.get(h.REQUEST_ID.lower()),
    }


async def test_every_header_variant_gets_the_same_answer_and_row_from_an_edge_hit(topology: Topology) -> None:
    key, record = await topology.key()
    primed = await _send(topology.edge.url, key, dict(BASE))
    assert primed["status"] == 200
    await topology.origin.state.kv.flush()
    assert cache_name(fingerprint(record.project_id, BODY)) in topology.cloudflare.values

    compared: list[tuple[str, str, dict[str, Any], dict[str, Any]]] = []
    for name, values in VARIANTS.items():
        for value in values:
            headers = {**BASE, name: value}
            at_edge = await _send(topology.edge.url, key, headers)
            at_origin = await _send(topology.origin.url, key, headers)
            what = f"{name}: {value[:40]!r}"
            for field in ("status", "code", "param", "message"):
                assert at_edge[field] == at_origin[field], f"{what}: {field} {at_edge} vs {at_origin}"
            if at_edge["edge"] == "hit":
                compared.append((what, value, at_edge, at_origin))

    assert {what.split(":")[0] for what, *_ in compared} == set(VARIANTS)  # each header hit the edge
    assert any(edge["status"] == 400 for _, _, edge, _ in compared)  # and some were refused there
    ids = [r["request_id"] for _, _, edge, origin in compared for r in (edge, origin)]
    rows = await topology.rows(ids)
    for what, _, edge, origin in compared:
        edge_row, origin_row = rows[edge["request_id"]], rows[origin["request_id"]]
        assert edge_row["cache_status"] == "hit-exact-edge" and edge_row["edge_region"] == "SIN"
        if edge["status"] == 200:
            assert origin_row["cache_status"] == "hit-exact", what
        differing = {
            column: (edge_row[column], origin_row[column])
            for column in edge_row
            if column not in IGNORED_COLUMNS and edge_row[column] != origin_row[column]
        }
        assert differing == {}, what
