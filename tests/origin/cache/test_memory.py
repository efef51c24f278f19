"""Session memory against real Redis, plus its pure helpers."""

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis.asyncio as redis

from origin.cache.memory import SessionMemory, memory_applies, memory_key, with_history

SYSTEM = {"role": "system", "content": "Be brief."}
DEVELOPER = {"role": "developer", "content": "Answer in English."}


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def assistant(text: str) -> dict[str, Any]:
    return {"role": "assistant", "content": text}


@pytest.fixture
def memory(redis_client: "redis.Redis") -> SessionMemory:
    # The production 0.25 s bound drops a turn when this machine stalls; these tests assert atomicity.
    return SessionMemory(redis_client, timeout=30)


async def test_turns_are_recorded_and_read_in_order(
    memory: SessionMemory, redis_client: "redis.Redis"
) -> None:
    await memory.record_turn("p1", "s1", [user("one")], assistant("first"))
    await memory.record_turn("p1", "s1", [user("two"), user("three")], assistant("second"))

    assert await memory.history("p1", "s1", token_budget=10_000) == [
        user("one"),
        assistant("first"),
        user("two"),
        user("three"),
        assistant("second"),
    ]
    assert await redis_client.llen(memory_key("p1", "s1")) == 2


async def test_only_user_messages_and_the_answer_text_are_stored(
    memory: SessionMemory, redis_client: "redis.Redis"
) -> None:
    answer = {
        "role": "assistant",
        "content": "Calling.",
        "refusal": None,
        "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    await memory.record_turn("p1", "s1", [SYSTEM, {**user("hi"), "name": "ann", "extra": 1}], answer)

    raw = await redis_client.lindex(memory_key("p1", "s1"), 0)
    assert raw is not None
    assert json.loads(raw) == {
        "v": 1,
        "messages": [{"role": "user", "content": "hi", "name": "ann"}, assistant("Calling.")],
    }


async def test_trimming_keeps_the_newest_whole_turns(memory: SessionMemory) -> None:
    for n in range(5):
        await memory.record_turn("p1", "s1", [user(f"question {n} " + "x" * 36)], assistant("a" * 36))
    # Each turn: user ≈ 12 + 4 tokens, answer 9 + 4 tokens → 29 tokens.
    assert await memory.history("p1", "s1", token_budget=10_000) != []
    two_turns = await memory.history("p1", "s1", token_budget=2 * 29 + 28)
    assert [m["content"][:10] for m in two_turns] == ["question 3", "a" * 10, "question 4", "a" * 10]
    assert await memory.history("p1", "s1", token_budget=28) == []
    assert await memory.history("p1", "s1", token_budget=0) == []


async def test_max_turns_keeps_the_newest(redis_client: "redis.Redis") -> None:
    memory = SessionMemory(redis_client, max_turns=3)
    for n in range(5):
        await memory.record_turn("p1", "s1", [user(str(n))], assistant(str(n)))
    history = await memory.history("p1", "s1", token_budget=10_000)
    assert [m["content"] for m in history if m["role"] == "user"] == ["2", "3", "4"]
    assert await redis_client.llen(memory_key("p1", "s1")) == 3


async def test_ttl_counts_from_the_last_turn(memory: SessionMemory, redis_client: "redis.Redis") -> None:
    key = memory_key("p1", "s1")
    await memory.record_turn("p1", "s1", [user("one")], assistant("first"))
    assert 86_390 <= await redis_client.ttl(key) <= 86_400
    await redis_client.expire(key, 100)
    await memory.record_turn("p1", "s1", [user("two")], assistant("second"))
    assert 86_390 <= await redis_client.ttl(key) <= 86_400


async def test_projects_are_isolated(memory: SessionMemory) -> None:
    await memory.record_turn("p1", "shared", [user("from p1")], assistant("a1"))
    await memory.record_turn("p2", "shared", [user("from p2")], assistant("a2"))

    assert await memory.history("p1", "shared", token_budget=1000) == [user("from p1"), assistant("a1")]
    assert await memory.erase("p2", "shared")
    assert await memory.history("p2", "shared", token_budget=1000) == []
    assert await memory.history("p1", "shared", token_budget=1000) == [user("from p1"), assistant("a1")]


async def test_colons_in_ids_cannot_collide(memory: SessionMemory) -> None:
    assert memory_key("a", "b:c") != memory_key("a:b", "c")
    await memory.record_turn("a", "b:c", [user("first")], assistant("one"))
    await memory.record_turn("a:b", "c", [user("second")], assistant("two"))

    assert await memory.history("a", "b:c", token_budget=1000) == [user("first"), assistant("one")]
    assert await memory.history("a:b", "c", token_budget=1000) == [user("second"), assistant("two")]


async def test_erase(memory: SessionMemory) -> None:
    await memory.record_turn("p1", "s1", [user("one")], assistant("first"))
    assert await memory.erase("p1", "s1") is True
    assert await memory.history("p1", "s1", token_budget=1000) == []
    assert await memory.erase("p1", "s1") is False


async def test_concurrent_turns_are_all_stored_whole(memory: SessionMemory) -> None:
    await asyncio.gather(
        *(memory.record_turn("p1", "s1", [user(f"q{n}")], assistant(f"a{n}")) for n in range(50))
    )
    history = await memory.history("p1", "s1", token_budget=100_000)
    assert len(history) == 100
    pairs = list(zip(history[::2], history[1::2], strict=True))
    assert sorted(q["content"] for q, _ in pairs) == sorted(f"q{n}" for n in range(50))
    assert all(a["content"] == "a" + q["content"][1:] for q, a in pairs)


async def test_unreadable_turns_are_skipped(memory: SessionMemory, redis_client: "redis.Redis") -> None:
    await redis_client.rpush(memory_key("p1", "s1"), b"not json", b'{"v":1,"messages":"nope"}')
    await memory.record_turn("p1", "s1", [user("one")], assistant("first"))
    assert await memory.history("p1", "s1", token_budget=1000) == [user("one"), assistant("first")]


@pytest.fixture
async def down_client() -> AsyncIterator["redis.Redis"]:
    client = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    yield client
    await client.aclose()


async def test_redis_down_is_best_effort_except_erase(
    down_client: "redis.Redis", caplog: pytest.LogCaptureFixture
) -> None:
    memory = SessionMemory(down_client)
    with caplog.at_level(logging.WARNING, logger="prism.memory"):
        assert await memory.history("p1", "s1", token_budget=1000) == []
        await memory.record_turn("p1", "s1", [user("secret prompt")], assistant("secret answer"))
    assert len(caplog.records) == 2
    assert "secret" not in caplog.text
    with pytest.raises((OSError, redis.RedisError)):
        await memory.erase("p1", "s1")


@pytest.mark.parametrize(
    ("messages", "expected"),
    [
        ([SYSTEM, user("now")], [SYSTEM, user("old"), assistant("was"), user("now")]),
        ([DEVELOPER, user("now")], [DEVELOPER, user("old"), assistant("was"), user("now")]),
        (
            [SYSTEM, DEVELOPER, user("now")],
            [SYSTEM, DEVELOPER, user("old"), assistant("was"), user("now")],
        ),
        ([user("now")], [user("old"), assistant("was"), user("now")]),
        (
            [SYSTEM, user("now"), SYSTEM],
            [SYSTEM, user("old"), assistant("was"), user("now"), SYSTEM],
        ),
        ([SYSTEM, user("q"), assistant("a"), user("now")], [SYSTEM, user("q"), assistant("a"), user("now")]),
        (
            [user("q"), {"role": "tool", "tool_call_id": "c1", "content": "42"}],
            [user("q"), {"role": "tool", "tool_call_id": "c1", "content": "42"}],
        ),
    ],
    ids=["system", "developer", "system-and-developer", "no-system", "late-system", "client-history", "tool"],
)
def test_with_history(messages: list[dict[str, Any]], expected: list[dict[str, Any]]) -> None:
    history = [user("old"), assistant("was")]
    before = list(messages)
    assert with_history(messages, history) == expected
    assert messages == before
    assert with_history(messages, []) == messages


def test_memory_applies() -> None:
    assert memory_applies([SYSTEM, user("hi")])
    assert not memory_applies([user("hi"), assistant("hello"), user("again")])
    assert not memory_applies([user("hi"), "not a message"])
