"""Where prefixes part from a project's reference prefix: the pure comparison, then the survey in Redis."""

import json
import math

import pytest
import redis.asyncio as redis

from origin.chat.prefix_survey import (
    REFERENCE,
    Divergence,
    PrefixSurvey,
    commonest,
    first_difference,
    parting,
    survey_keys,
    word_hashes,
)

TEMPLATE = "You answer for the shop. Write to help@shop.example when stuck. The customer is "
EXCERPT = "…Write to [email] when stuck. The customer is ⟨differs⟩"  # eight words, never the user's
FP_ADA, FP_BOB, FP_EVE = "a" * 32, "b" * 32, "e" * 32


def personal(user: str) -> str:
    return f"{TEMPLATE}{user}, who likes short answers."


def test_the_first_different_word_is_found() -> None:
    _, reference = word_hashes(personal("Ada"))
    starts, other = word_hashes(personal("Bob"))
    word = first_difference(reference, other)
    assert starts[word] == len(TEMPLATE)
    assert first_difference(reference, reference) == len(starts)
    assert first_difference(reference, word_hashes(personal("Ada") + " More.")[1]) == len(starts)


def test_parting_gives_the_token_and_a_redacted_excerpt_of_the_shared_words() -> None:
    text = personal("Bob")
    starts, _ = word_hashes(text)
    at_token, excerpt = parting(text, starts, starts.index(len(TEMPLATE)))
    assert at_token == math.ceil(len(TEMPLATE) / 4)
    assert excerpt == EXCERPT
    assert parting("Hello there", *word_hashes("Hello there")[:1], 0) == (0, "⟨differs⟩")


def test_the_commonest_parting_wins() -> None:
    first = json.dumps({"at_token": 21, "excerpt": "x ⟨differs⟩"})
    other = json.dumps({"at_token": 3, "excerpt": "y ⟨differs⟩"})
    surveyed: list[bytes | str] = [REFERENCE.encode(), first.encode(), first, other.encode()]
    assert commonest("p", surveyed) == Divergence("p", 21, "x ⟨differs⟩", 2)
    assert commonest("p", [REFERENCE.encode()]) is None


@pytest.fixture
def survey(redis_client: "redis.Redis") -> PrefixSurvey:
    return PrefixSurvey(redis_client, timeout=30)


async def test_the_first_prefix_is_the_reference_and_later_ones_are_compared_once(
    survey: PrefixSurvey, redis_client: "redis.Redis"
) -> None:
    await survey.survey("p1", FP_ADA, personal("Ada"))
    await survey.survey("p1", FP_BOB, personal("Bob"))
    await survey.survey("p1", FP_EVE, personal("Eve"))
    await survey.survey("p1", FP_ADA, personal("Ada"))
    expected = Divergence("p1", math.ceil(len(TEMPLATE) / 4), EXCERPT, 2)
    assert await survey.divergences(["p1", "p2"]) == [expected]
    surveyed, reference = survey_keys("p1")
    assert await redis_client.hget(surveyed, FP_ADA) == REFERENCE.encode()
    assert 0 < await redis_client.ttl(reference) <= 86400
    assert "Bob" not in str(await redis_client.hgetall(surveyed))

    await redis_client.hdel(surveyed, FP_BOB)
    await survey.survey("p1", FP_BOB, personal("Bob"))  # remembered by this instance: not again
    assert await redis_client.hexists(surveyed, FP_BOB) == 0
    await PrefixSurvey(redis_client).survey("p1", FP_BOB, personal("Bob"))  # another instance: once
    assert await redis_client.hexists(surveyed, FP_BOB) == 1


async def test_a_prefix_that_lost_the_race_to_be_the_reference_is_compared_later(
    survey: PrefixSurvey, redis_client: "redis.Redis"
) -> None:
    _, packed = word_hashes(personal("Ada"))
    await redis_client.set(survey_keys("p1")[1], FP_ADA.encode() + packed)  # set between lookup and write
    assert await survey._record(survey_keys("p1"), FP_BOB, personal("Bob"), b"") is False
    await survey.survey("p1", FP_BOB, personal("Bob"))
    assert [d.prefixes for d in await survey.divergences(["p1"])] == [1]


async def test_without_redis_nothing_is_surveyed_and_nothing_fails() -> None:
    down = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    try:
        survey = PrefixSurvey(down)
        await survey.survey("p1", FP_ADA, personal("Ada"))
        assert await survey.divergences(["p1"]) == []
    finally:
        await down.aclose()
