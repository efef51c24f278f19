"""One Redis connection shared by every caller, on a real Redis: replies in order, the database and
credentials of the URL, a lost connection failing only those waiting, and a reconnect after it."""

import asyncio
import uuid
from typing import Any

import pytest
import redis.asyncio as redis

from origin.stores.redis_multiplex import Address, Multiplexer, encode


async def sent(multiplexer: Multiplexer, *commands: list[Any]) -> list[Any]:
    await multiplexer.connect()
    loop = asyncio.get_running_loop()
    answers: list[asyncio.Future[Any]] = [loop.create_future() for _ in commands]
    multiplexer.send(list(commands), [answer.set_result for answer in answers])
    return list(await asyncio.gather(*answers))


def address_of(client: "redis.Redis", **changes: Any) -> Address:
    address = Address.of(client)
    assert address is not None
    return Address(**{**{name: getattr(address, name) for name in Address.__slots__}, **changes})


def test_commands_are_written_as_resp_arrays() -> None:
    assert (
        encode(["SET", "k", 5, 1.5, b"\x00"])
        == b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n5\r\n$3\r\n1.5\r\n$1\r\n\x00\r\n"
    )


def test_only_a_plain_tcp_redis_is_multiplexed() -> None:
    plain = Address.of(redis.Redis.from_url("redis://user:pw@10.0.0.1:6380/2"))
    assert plain == Address(
        host="10.0.0.1", port=6380, db=2, username="user", password="pw", connect_timeout=1.0
    )
    assert Address.of(redis.Redis.from_url("rediss://10.0.0.1:6380/0")) is None
    assert Address.of(redis.Redis.from_url("unix:///run/redis.sock")) is None


async def test_replies_go_back_in_order_with_errors_as_values(redis_client: "redis.Redis") -> None:
    multiplexer = Multiplexer(address_of(redis_client))
    try:
        replies = await sent(
            multiplexer,
            ["SET", "mux:a", "1"],
            ["INCR", "mux:a"],
            ["GET", "mux:nothing"],
            ["HGET", "mux:a", "x"],
        )
    finally:
        multiplexer.close()
    assert replies[:3] == [b"OK", 2, None]
    assert isinstance(replies[3], redis.ResponseError) and "WRONGTYPE" in str(replies[3])


async def test_the_urls_database_and_credentials_are_used(redis_client: "redis.Redis") -> None:
    user, secret = f"mux-{uuid.uuid4().hex[:6]}", uuid.uuid4().hex
    await redis_client.acl_setuser(
        user, enabled=True, passwords=[f"+{secret}"], keys=["*"], commands=["+@all"]
    )
    multiplexer = Multiplexer(address_of(redis_client, db=3, username=user, password=secret))
    refused = Multiplexer(address_of(redis_client, username=user, password="wrong"))
    try:
        assert await sent(multiplexer, ["SET", "mux:db", "three"]) == [b"OK"]
        with pytest.raises(redis.ConnectionError, match="Redis refused AUTH"):
            await refused.connect()
        assert not refused.ready
    finally:
        multiplexer.close()
        await redis_client.acl_deluser(user)
    where = redis_client.connection_pool.connection_kwargs
    other = redis.Redis(host=where["host"], port=where["port"], db=3)
    try:
        assert await other.get("mux:db") == b"three" and await redis_client.get("mux:db") is None
        await other.delete("mux:db")
    finally:
        await other.aclose()


async def test_a_lost_connection_fails_those_waiting_and_the_next_call_reconnects(
    redis_client: "redis.Redis",
) -> None:
    multiplexer = Multiplexer(address_of(redis_client))
    try:
        await sent(multiplexer, ["CLIENT", "SETNAME", "mux-test"])
        loop = asyncio.get_running_loop()
        waiting: asyncio.Future[Any] = loop.create_future()
        multiplexer.send([["BLPOP", "mux:never", "5"]], [waiting.set_result])
        ours = next(client for client in await redis_client.client_list() if client["name"] == "mux-test")
        await redis_client.client_kill_filter(_id=ours["id"])
        lost = await asyncio.wait_for(waiting, 2)
        assert isinstance(lost, redis.ConnectionError) and not multiplexer.ready
        assert await sent(multiplexer, ["PING"]) == [b"PONG"]
    finally:
        multiplexer.close()


async def test_a_connection_that_stops_answering_is_dropped_and_replaced(redis_client: "redis.Redis") -> None:
    multiplexer = Multiplexer(address_of(redis_client, reply_timeout=0.2))
    try:
        await multiplexer.connect()
        loop = asyncio.get_running_loop()
        stuck: asyncio.Future[Any] = loop.create_future()
        multiplexer.send([["BLPOP", "mux:never", "5"]], [stuck.set_result])  # owes a reply for 5 s
        assert multiplexer.ready
        await asyncio.sleep(0.3)
        assert not multiplexer.ready
        assert isinstance(await asyncio.wait_for(stuck, 2), redis.ConnectionError)
        assert await sent(multiplexer, ["PING"]) == [b"PONG"]
    finally:
        multiplexer.close()


async def test_a_write_that_raises_drops_the_connection_and_fails_everyone_owed(
    redis_client: "redis.Redis", monkeypatch: pytest.MonkeyPatch
) -> None:
    multiplexer = Multiplexer(address_of(redis_client))
    try:
        await multiplexer.connect()
        loop = asyncio.get_running_loop()
        earlier: asyncio.Future[Any] = loop.create_future()
        multiplexer.send([["BLPOP", "mux:never", "5"]], [earlier.set_result])
        transport = multiplexer._replies.transport  # type: ignore[union-attr]

        def closed(data: bytes) -> None:  # as uvloop's write on a closing connection
            raise RuntimeError("unable to perform operation: the handler is closed")

        monkeypatch.setattr(transport, "write", closed)
        later: asyncio.Future[Any] = loop.create_future()
        with pytest.raises(RuntimeError, match="handler is closed"):
            multiplexer.send([["PING"]], [later.set_result])
        assert not multiplexer.ready
        for owed in (earlier, later):
            assert isinstance(await asyncio.wait_for(owed, 2), redis.ConnectionError)
        assert await sent(multiplexer, ["PING"]) == [b"PONG"]
    finally:
        multiplexer.close()


async def test_a_closed_multiplexer_is_not_ready(redis_client: "redis.Redis") -> None:
    multiplexer = Multiplexer(address_of(redis_client))
    await multiplexer.connect()
    multiplexer.close()
    assert not multiplexer.ready
