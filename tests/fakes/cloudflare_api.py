"""A fake Cloudflare v4 API on a real socket: the Workers KV subset that Prism uses, and nothing else.

Faithful enough for the official ``cloudflare`` SDK (``AsyncCloudflare(base_url=start())``) and for the
local edge, which reads and writes the same paths over plain HTTP:

    PUT    /client/v4/accounts/{account}/storage/kv/namespaces/{ns}/values/{name}?expiration_ttl=N
           body: multipart/form-data with a ``value`` part (and an optional JSON ``metadata`` part), as
           the SDK sends it, or any other content type: the raw body is the value
    GET    …/values/{name}          200 the raw bytes (``expiration`` header when set), 404 when absent
    GET    …/metadata/{name}        200 ``result``: the metadata JSON (null when none), 404 when absent
    DELETE …/values/{name}          200 whether or not the name exists
    GET    …/namespaces/{ns}/keys?prefix=&limit=10..1000&cursor=   names in byte order, paginated

Every request needs ``Authorization: Bearer <token>``. JSON answers use Cloudflare's envelope
``{"success", "errors": [{"code", "message"}], "messages", "result"}``. Names are percent-decoded
segments (``/`` inside a name arrives as ``%2F``). ``expiration_ttl`` must be at least 60 seconds and
``expiration`` at least 60 seconds ahead, as on Cloudflare; expired names vanish. ``advance`` moves the
fake's clock; ``fail_writes`` makes the next PUTs/DELETEs answer 500.

In-process: ``FakeCloudflare().start()`` returns the SDK's base URL. For local runs:
``python -m tests.fakes.cloudflare_api --port 8788`` (token, account and namespace flags below).
"""

import argparse
import asyncio
import base64
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from aiohttp import BodyPartReader, web

from tests.fakes.server import LoopbackServer

BANNER: Final = "FAKE CLOUDFLARE API (local KV for the edge, not Cloudflare) listening on"
API_ROOT: Final = "/client/v4"
DEFAULT_TOKEN: Final = "local-kv-token"
DEFAULT_ACCOUNT: Final = "local-account"
DEFAULT_NAMESPACE: Final = "local-namespace"
MIN_TTL_SECONDS: Final = 60
MAX_NAME_BYTES: Final = 512
MAX_VALUE_BYTES: Final = 25 * 1024 * 1024
_LIST_LIMITS: Final = (10, 1000)


@dataclass(frozen=True, slots=True)
class StoredValue:
    value: bytes
    expiration: int | None = None  # seconds since the epoch, as Cloudflare reports it
    metadata: Any = None


@dataclass(frozen=True, slots=True)
class Call:
    method: str
    name: str | None  # the value's name; None for a key listing
    status: int


class ApiFailure(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def envelope(result: Any, **extra: Any) -> web.Response:
    return web.json_response({"success": True, "errors": [], "messages": [], "result": result, **extra})


def failure(status: int, code: int, message: str) -> web.Response:
    body = {"success": False, "errors": [{"code": code, "message": message}], "messages": [], "result": None}
    return web.json_response(body, status=status)


class FakeCloudflare(LoopbackServer):
    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        account_id: str = DEFAULT_ACCOUNT,
        namespace_id: str = DEFAULT_NAMESPACE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.token = token
        self.account_id = account_id
        self.namespace_id = namespace_id
        self._clock = clock
        self._offset = 0.0
        self._store: dict[str, StoredValue] = {}
        self._failing_writes = 0
        self._failure_status = 500
        self.calls: list[Call] = []
        super().__init__()
        self.base_url = ""

    # -- lifecycle ------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        app = web.Application(client_max_size=MAX_VALUE_BYTES + 64 * 1024)
        app.router.add_route("*", API_ROOT + "/{tail:.*}", self._dispatch)
        bound = await self._listen(web.AppRunner(app, access_log=None, shutdown_timeout=0.1), host, port)
        self.base_url = f"http://{host}:{bound}{API_ROOT}"
        return self.base_url

    # -- knobs and views for tests --------------------------------------------------------------------

    def reset(self) -> None:
        self._store.clear()
        self.calls.clear()
        self._failing_writes = 0
        self._offset = 0.0

    def fail_writes(self, count: int, status: int = 500) -> None:
        """The next ``count`` PUTs/DELETEs of values answer ``status`` (and change nothing)."""
        self._failing_writes = count
        self._failure_status = status

    def advance(self, seconds: float) -> None:
        """Move the fake's clock forward: entries whose expiration passes vanish."""
        self._offset += seconds

    def now(self) -> float:
        return self._clock() + self._offset

    @property
    def values(self) -> dict[str, bytes]:
        """The live (unexpired) names and their values."""
        return {name: stored.value for name, stored in self._live().items()}

    def entry(self, name: str) -> StoredValue | None:
        return self._live().get(name)

    def put(self, name: str, value: bytes | str, *, expiration_ttl: int | None = None) -> None:
        """Seed a value directly (no HTTP, no checks)."""
        data = value.encode() if isinstance(value, str) else value
        expiration = None if expiration_ttl is None else int(self.now()) + expiration_ttl
        self._store[name] = StoredValue(data, expiration)

    def count(self, method: str | None = None) -> int:
        return sum(1 for call in self.calls if method is None or call.method == method)

    @property
    def request_count(self) -> int:
        return len(self.calls)

    # -- the API ----------------------------------------------------------------------------------------

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        name: str | None = None
        try:
            # Parse the raw path: a name may hold an encoded "/" that a decoded route would split on.
            path = request.raw_path.split("?", 1)[0][len(API_ROOT) :]
            segments = [unquote(part) for part in path.split("/")[1:]]
            self._authorize(request)
            resource, name = self._route(segments)
            response = await self._handle(request, resource, name)
        except ApiFailure as error:
            response = failure(error.status, error.code, error.message)
        self.calls.append(Call(request.method, name, response.status))
        return response

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or token.strip() != self.token:
            raise ApiFailure(403, 10000, "Authentication error")

    def _route(self, segments: list[str]) -> tuple[str, str | None]:
        match segments:
            case ["accounts", account, "storage", "kv", "namespaces", namespace, *rest] if rest:
                pass
            case _:
                raise ApiFailure(404, 7003, "Could not route to the requested path")
        if account != self.account_id or namespace != self.namespace_id:
            raise ApiFailure(404, 10013, "namespace not found")
        match rest:
            case ["keys"]:
                return "keys", None
            case ["values" | "metadata" as resource, name] if name:
                if len(name.encode()) > MAX_NAME_BYTES:
                    raise ApiFailure(414, 10025, f"key name longer than {MAX_NAME_BYTES} bytes")
                return resource, name
        raise ApiFailure(404, 7003, "Could not route to the requested path")

    async def _handle(self, request: web.Request, resource: str, name: str | None) -> web.StreamResponse:
        if resource == "keys" and request.method == "GET":
            return self._list(request)
        if resource == "metadata" and name is not None and request.method == "GET":
            stored = self._live().get(name)
            if stored is None:
                raise ApiFailure(404, 10009, "metadata: 'key not found'")
            return envelope(stored.metadata)
        if resource == "values" and name is not None:
            if request.method == "GET":
                return self._get(name)
            if request.method in ("PUT", "DELETE"):
                if self._failing_writes > 0:
                    self._failing_writes -= 1
                    raise ApiFailure(self._failure_status, 10001, "injected failure (fake)")
                if request.method == "PUT":
                    return await self._put(request, name)
                self._store.pop(name, None)
                return envelope({})
        raise ApiFailure(405, 7001, f"Method {request.method} not allowed for this endpoint")

    def _get(self, name: str) -> web.Response:
        stored = self._live().get(name)
        if stored is None:
            raise ApiFailure(404, 10009, "get: 'key not found'")
        headers = {} if stored.expiration is None else {"expiration": str(stored.expiration)}
        return web.Response(body=stored.value, content_type="application/octet-stream", headers=headers)

    async def _put(self, request: web.Request, name: str) -> web.Response:
        expiration = self._expiration(request)
        metadata: Any = None
        if request.content_type == "multipart/form-data":
            value: bytes | None = None
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                if part.name == "value":
                    value = await part.read()
                elif part.name == "metadata":
                    metadata = _json_or_fail(await part.read())
            if value is None:
                raise ApiFailure(400, 10005, "multipart body has no 'value' part")
        else:
            value = await request.read()
        if len(value) > MAX_VALUE_BYTES:
            raise ApiFailure(413, 10011, "value too large")
        self._store[name] = StoredValue(value, expiration, metadata)
        return envelope({})

    def _expiration(self, request: web.Request) -> int | None:
        now = self.now()
        ttl = request.query.get("expiration_ttl")
        if ttl is not None:
            seconds = _number(ttl, "expiration_ttl")
            if seconds < MIN_TTL_SECONDS:
                raise ApiFailure(
                    400, 10033, f"Invalid expiration_ttl of {ttl}. Expiration TTL must be at least 60."
                )
            return int(now + seconds)
        at = request.query.get("expiration")
        if at is not None:
            stamp = _number(at, "expiration")
            if stamp < now + MIN_TTL_SECONDS:
                raise ApiFailure(
                    400,
                    10033,
                    f"Invalid expiration of {at}. Expiration times must be at least 60 seconds "
                    "in the future.",
                )
            return int(stamp)
        return None

    def _list(self, request: web.Request) -> web.Response:
        prefix = request.query.get("prefix", "")
        limit = int(_number(request.query.get("limit", str(_LIST_LIMITS[1])), "limit"))
        if not _LIST_LIMITS[0] <= limit <= _LIST_LIMITS[1]:
            raise ApiFailure(400, 10026, f"Invalid key limit: {limit}. Must be between 10 and 1000.")
        after = _decode_cursor(request.query.get("cursor", ""))
        names = sorted(
            (name for name in self._live() if name.startswith(prefix) and name.encode() > after),
            key=str.encode,
        )
        page, more = names[:limit], len(names) > limit
        cursor = base64.urlsafe_b64encode(page[-1].encode()).decode() if more else ""
        result = []
        for name in page:
            stored = self._store[name]
            item: dict[str, Any] = {"name": name}
            if stored.expiration is not None:
                item["expiration"] = stored.expiration
            if stored.metadata is not None:
                item["metadata"] = stored.metadata
            result.append(item)
        return envelope(result, result_info={"count": len(result), "cursor": cursor})

    def _live(self) -> dict[str, StoredValue]:
        now = self.now()
        for name in [n for n, s in self._store.items() if s.expiration is not None and s.expiration <= now]:
            del self._store[name]
        return self._store


def _number(raw: str, what: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ApiFailure(400, 10033, f"{what} must be a number, got {raw!r}") from None


def _json_or_fail(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        raise ApiFailure(400, 10005, "metadata must be JSON") from None


def _decode_cursor(cursor: str) -> bytes:
    if not cursor:
        return b""
    try:
        return base64.urlsafe_b64decode(cursor.encode())
    except ValueError:
        raise ApiFailure(400, 10026, "invalid cursor") from None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a fake Cloudflare KV API for local runs.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8788)
    parser.add_argument("--token", default=DEFAULT_TOKEN, help="the bearer token it accepts")
    parser.add_argument("--account", default=DEFAULT_ACCOUNT, help="the account id in the paths")
    parser.add_argument("--namespace", default=DEFAULT_NAMESPACE, help="the KV namespace id in the paths")
    args = parser.parse_args(argv)
    fake = FakeCloudflare(token=args.token, account_id=args.account, namespace_id=args.namespace)
    asyncio.run(fake.serve_until_signalled(args.host, args.port, BANNER))


if __name__ == "__main__":
    main()
