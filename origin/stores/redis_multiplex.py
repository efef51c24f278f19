"""One Redis connection that every concurrent caller writes to at once.

Redis answers the commands of a connection in the order it read them, so callers need not take
turns: each batch of commands is written as it comes, and each reply is handed to whoever is next
in line. No connection checkout, pipeline object or task per batch (redis-py's pipeline was most of
a script call's CPU on a cache miss); hiredis parses the replies. A lost connection fails everyone
still waiting with ``redis.ConnectionError``, and so does one that has answered nothing for longer
than ``reply_timeout`` while replies are owed (checked when the next batch comes); the next batch
connects again.
"""

import asyncio
import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import hiredis
import redis.asyncio as redis
from redis.exceptions import NoScriptError, ResponseError

from origin.stores.redis_client import RedisClient

Arg = str | int | float | bytes
Reply = Callable[[Any], None]  # given the reply, or the exception it amounts to


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int
    db: int = 0
    username: str | None = None
    password: str | None = None
    connect_timeout: float = 1.0
    reply_timeout: float = 5.0

    @classmethod
    def of(cls, client: RedisClient) -> "Address | None":
        """Where ``client`` connects, when it is a plain TCP connection to one node (not TLS, not a unix
        socket, not a cluster)."""
        if not isinstance(client, redis.Redis):
            return None
        pool = client.connection_pool
        if pool.connection_class is not redis.Connection:
            return None
        kwargs = pool.connection_kwargs
        return cls(
            host=str(kwargs.get("host", "localhost")),
            port=int(kwargs.get("port", 6379)),
            db=int(kwargs.get("db") or 0),
            username=kwargs.get("username"),
            password=kwargs.get("password"),
            connect_timeout=float(kwargs.get("socket_connect_timeout") or 1.0),
            reply_timeout=float(kwargs.get("socket_timeout") or 5.0),
        )


def encode(command: Sequence[Arg]) -> bytes:
    """A command in RESP: an array of bulk strings (hiredis's encoder, as redis-py's own with hiredis)."""
    # hiredis's stub types the argument as a tuple of one.
    packed: bytes = hiredis.pack_command(cast(Any, tuple(command)))
    return packed


def _error(reply: hiredis.ReplyError) -> ResponseError:
    message = str(reply)
    return NoScriptError(message) if message.startswith("NOSCRIPT") else ResponseError(message)


class _Replies(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.waiting: collections.deque[Reply] = collections.deque()
        self.lost = False
        self.progress = time.monotonic()  # when a reply last came, or replies began to be owed
        self._reader = hiredis.Reader()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not an asyncio.Transport subclass

    def data_received(self, data: bytes) -> None:
        self.progress = time.monotonic()
        self._reader.feed(data)
        while (reply := self._reader.gets()) is not False:
            self.waiting.popleft()(_error(reply) if isinstance(reply, hiredis.ReplyError) else reply)

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        while self.waiting:
            self.waiting.popleft()(redis.ConnectionError("the connection to Redis was lost"))


class Multiplexer:
    def __init__(self, address: Address) -> None:
        self._address = address
        self._replies: _Replies | None = None
        self._connecting: asyncio.Task[_Replies] | None = None

    @property
    def ready(self) -> bool:
        """Connected, and not stalled (a stalled connection is closed here)."""
        replies = self._replies
        if replies is None or replies.lost:
            return False
        if replies.waiting and time.monotonic() - replies.progress > self._address.reply_timeout:
            replies.lost = True
            assert replies.transport is not None
            replies.transport.close()  # those waiting get the connection error
            return False
        return True

    def send(self, commands: Sequence[Sequence[Arg]], replies: Sequence[Reply]) -> None:
        """Write ``commands`` in one go; ``replies[i]`` gets the reply to ``commands[i]``. Needs ``ready``.

        If the write raises (uvloop's does on a closing connection), the connection is dropped: what
        it owes can no longer be matched to its replies. Everyone waiting, ``replies`` included, gets
        the connection error, and the exception is raised too."""
        owed = self._replies
        assert owed is not None and owed.transport is not None
        payload = b"".join(encode(command) for command in commands)
        if not owed.waiting:
            owed.progress = time.monotonic()
        owed.waiting.extend(replies)
        try:
            owed.transport.write(payload)
        except Exception:
            owed.lost = True
            owed.transport.abort()
            raise

    async def connect(self) -> None:
        """Connected once this returns (concurrent callers share one attempt); raises
        ``redis.ConnectionError`` or ``TimeoutError`` otherwise."""
        if self.ready:
            return
        if self._connecting is None:
            self._connecting = asyncio.ensure_future(self._open())
        connecting = self._connecting
        try:
            self._replies = await asyncio.shield(connecting)
        finally:
            if connecting.done() and self._connecting is connecting:
                self._connecting = None

    async def _open(self) -> _Replies:
        address = self._address
        setup: list[list[Arg]] = []
        if address.password is not None:
            setup.append(["AUTH", *([address.username] if address.username else []), address.password])
        if address.db:
            setup.append(["SELECT", address.db])
        loop = asyncio.get_running_loop()
        replies: _Replies | None = None
        try:
            async with asyncio.timeout(address.connect_timeout):
                _, replies = await loop.create_connection(_Replies, address.host, address.port)
                for command in setup:
                    answer: asyncio.Future[Any] = loop.create_future()
                    replies.waiting.append(answer.set_result)
                    assert replies.transport is not None
                    replies.transport.write(encode(command))
                    if isinstance(result := await answer, Exception):
                        raise redis.ConnectionError(f"Redis refused {command[0]!s}: {result}")
        except BaseException as error:
            if replies is not None and replies.transport is not None:
                replies.transport.close()
            if isinstance(error, OSError):
                raise redis.ConnectionError(f"cannot connect to Redis: {error}") from None
            raise
        return replies

    def close(self) -> None:
        if self._replies is not None and self._replies.transport is not None:
            self._replies.lost = True
            self._replies.transport.close()
        if self._connecting is not None:
            self._connecting.cancel()
