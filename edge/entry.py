"""The Worker's entry point, and the only module that imports the runtime (``workers``, ``js``).

It adapts the runtime to ``edge/runtime.py`` and back; every decision is ``edge/handler.py``'s.
Bindings (wrangler.toml): KV namespace ``KV``; vars ``ORIGIN_URL`` and optionally ``MAX_BODY_BYTES``
and ``DEFAULT_REGION``; secrets ``KEY_PEPPER`` and ``INGEST_SECRET``.
"""

import logging
from typing import Any, Final

from js import AbortSignal
from workers import Request, Response, WorkerEntrypoint, fetch

from edge import proxy
from edge.handler import handle, origin_unreachable
from edge.outbox import Outbox
from edge.runtime import DEFAULT_MAX_BODY_BYTES, Answer, EdgeRequest, Env, Forward, Headers

try:
    from pyodide.ffi import jsnull
except ImportError:  # older Pyodide converts JS null to None
    jsnull = None

log = logging.getLogger("prism.edge.entry")

BODILESS_METHODS = frozenset({"GET", "HEAD"})


def _absent(value: Any) -> bool:
    return value is None or (jsnull is not None and value is jsnull)


def _setting(bindings: Any, name: str) -> str | None:
    value = getattr(bindings, name, None)
    return None if _absent(value) or value == "" else str(value)


class KVBinding:
    """``edge.runtime.KV`` over a Workers KV namespace (wrapped by the SDK's env wrapper)."""

    def __init__(self, binding: Any) -> None:
        self._binding = binding

    async def get(self, name: str) -> str | None:
        value = await self._binding.get(name)
        return None if _absent(value) else str(value)

    async def put(self, name: str, value: str, *, expiration_ttl: int | None = None) -> None:
        if expiration_ttl is None:
            await self._binding.put(name, value)
        else:
            await self._binding.put(name, value, {"expirationTtl": expiration_ttl})


class FetchPoster:
    """``edge.runtime.Poster`` over the runtime's fetch."""

    async def post(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> int:
        # Aborting (not just abandoning) a slow attempt frees its connection: Workers allow six.
        # The signal goes to fetch itself: pyfetch puts its own signal into the fetch options,
        # which would override one carried by the Request.
        signal = AbortSignal.timeout(int(timeout * 1000))
        response = await fetch(Request(url, method="POST", headers=headers, body=body), signal=signal)
        status = int(response.status)
        await response.bytes()
        return status


def environment(bindings: Any) -> Env:
    limit = _setting(bindings, "MAX_BODY_BYTES")
    return Env(
        kv=KVBinding(bindings.KV),
        origin_url=str(bindings.ORIGIN_URL),
        key_pepper=str(bindings.KEY_PEPPER),
        ingest_secret=str(bindings.INGEST_SECRET),
        max_body_bytes=int(limit) if limit else DEFAULT_MAX_BODY_BYTES,
        default_region=_setting(bindings, "DEFAULT_REGION"),
    )


def edge_request(request: Any) -> EdgeRequest:
    """``request`` is the SDK's ``workers.Request``."""
    cf = getattr(request, "cf", None)
    colo = None if _absent(cf) else getattr(cf, "colo", None)
    return EdgeRequest(
        str(request.js_object.method),
        str(request.url),
        Headers(request.headers.items()),
        colo=None if _absent(colo) else str(colo),
        read_body=request.bytes,
    )


def respond(answer: Answer) -> Any:
    return Response(answer.body, status=answer.status, headers=answer.headers)


async def forward(target: Forward, request: EdgeRequest, original: Any) -> Any:
    """Send the request on with its exact body (the bytes if the handler read them, else the
    unread stream) and stream the origin's response back with the edge's headers added."""
    options: dict[str, Any] = {
        "method": request.method,
        "headers": proxy.request_headers(request.headers.pairs, target.request_headers),
        "redirect": "manual",  # a redirect is the client's to follow, as without the edge
    }
    if request.method not in BODILESS_METHODS:
        if request.body_read is not None:
            options["body"] = request.body_read
        elif not _absent(stream := original.body):
            options["body"] = stream
            options["duplex"] = "half"
    try:
        upstream = await fetch(Request(target.url, **options))
    except Exception as error:
        log.error("forward to the origin failed: %s", type(error).__name__)
        return respond(origin_unreachable(target))
    return Response(
        upstream.body,
        status=upstream.status,
        status_text=upstream.status_text,
        headers=proxy.response_headers(upstream.headers.items(), target.response_headers),
    )


# The isolate's one outbox: the rows of all its requests share batches (edge.outbox), so it lives as
# long as the isolate does.
OUTBOX: Final = Outbox()


class Default(WorkerEntrypoint):  # type: ignore[misc]
    async def fetch(self, request: Any) -> Any:
        if not hasattr(request, "js_object"):
            request = Request(request)  # a raw JS Request (entrypoints without the SDK's wrapping)
        incoming = edge_request(request)
        result = await handle(
            incoming, environment(self.env), self.ctx.waitUntil, poster=FetchPoster(), outbox=OUTBOX
        )
        if isinstance(result, Answer):
            return respond(result)
        return await forward(result, incoming, request)
