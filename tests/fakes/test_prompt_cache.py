"""The prompt cache's rules, driven directly with a hand clock."""

from tests.clock import Clock
from tests.fakes.prompt_cache import FIVE_MINUTES, ONE_HOUR, CacheUsage, Part, PromptCache, Settings, header

ONE_POD = Settings(pods=1)


def _user(tokens: int, letter: str = "a") -> list[Part]:
    return [Part(header({"role": "user"}), ""), Part(header({"type": "text"}), letter * (4 * tokens))]


def _reads(cache: PromptCache, prompts: list[list[Part]], settings: Settings = ONE_POD) -> list[int]:
    return [cache.automatic("gpt", settings, parts, None).read for parts in prompts]


def _block(tokens: int, ttl: float | None = None, letter: str = "s") -> Part:
    return Part(header({"type": "text"}), letter * (4 * tokens), ttl)


def test_a_repeated_long_prompt_reads_its_128_token_floor() -> None:
    cache = PromptCache(Clock(), seed=0)

    assert _reads(cache, [_user(1500)] * 3) == [0, 1408, 1408]


def test_a_prompt_below_1024_tokens_is_never_cached() -> None:
    cache = PromptCache(Clock(), seed=0)

    assert _reads(cache, [_user(1023)] * 3) == [0, 0, 0]
    assert _reads(cache, [_user(1024)] * 2) == [0, 1024]


def test_a_partial_last_token_still_counts_as_a_whole_one() -> None:
    cache = PromptCache(Clock(), seed=0)
    parts = [Part(header({"role": "user"}), "a" * (4 * 1151 + 2))]

    assert _reads(cache, [parts] * 2) == [0, 1152]


def test_a_longer_prompt_reads_the_shared_prefix() -> None:
    cache = PromptCache(Clock(), seed=0)
    first = _user(1300)
    longer = [*first, Part(header({"role": "assistant"}), ""), Part(header({"type": "text"}), "b" * 2800)]

    assert _reads(cache, [first, longer, longer]) == [0, 1280, 1920]


def test_structure_is_part_of_the_key() -> None:
    cache = PromptCache(Clock(), seed=0)
    as_system = [Part(header({"role": "system"}), ""), *_user(1200)[1:]]
    with_tool = [Part(header({"tool": {"name": "get_time"}}), ""), *_user(1200)]

    assert _reads(cache, [_user(1200), as_system, with_tool, _user(1200)]) == [0, 0, 0, 1152]


def test_entries_expire_after_five_minutes_and_a_read_renews_them() -> None:
    clock = Clock()
    cache = PromptCache(clock, seed=0)
    reads = []
    for wait in (0, FIVE_MINUTES - 1, FIVE_MINUTES - 1, FIVE_MINUTES):
        clock.now += wait
        reads.append(_reads(cache, [_user(1100)])[0])

    assert reads == [0, 1024, 1024, 0]


def test_a_full_pod_drops_the_least_recently_used_prompt() -> None:
    cache = PromptCache(Clock(), seed=0)
    small = Settings(pods=1, pod_tokens=2048)
    a, b, c = _user(1024, "a"), _user(1024, "b"), _user(1024, "c")

    assert _reads(cache, [a, b, c, b, a, c], small) == [0, 0, 0, 1024, 0, 0]


def test_a_new_model_or_tokenizer_version_empties_the_cache() -> None:
    cache = PromptCache(Clock(), seed=0)
    prompt = [_user(1100)]

    assert _reads(cache, prompt * 2) == [0, 1024]
    assert _reads(cache, prompt * 2, Settings(pods=1, model_version="2")) == [0, 1024]
    assert _reads(cache, prompt, Settings(pods=1, model_version="2", tokenizer_version="2")) == [0]
    assert cache.automatic("other-model", ONE_POD, _user(1100), None).read == 0


def test_a_routing_key_keeps_a_conversation_on_one_pod() -> None:
    turns = [_user(1024 + 128 * turn) for turn in range(8)]
    keyed = PromptCache(Clock(), seed=3)
    unkeyed = PromptCache(Clock(), seed=3)

    with_key = [keyed.automatic("gpt", Settings(), parts, "session-1").read for parts in turns]
    without_key = [unkeyed.automatic("gpt", Settings(), parts, None).read for parts in turns]

    assert with_key == [0, 1024, 1152, 1280, 1408, 1536, 1664, 1792]
    assert without_key == [0, 1024, 0, 0, 0, 1536, 1408, 1280]


def test_flush_empties_every_pod() -> None:
    cache = PromptCache(Clock(), seed=0)
    _reads(cache, [_user(1100)])
    cache.flush()

    assert _reads(cache, [_user(1100)]) == [0]


def test_breakpoints_write_per_lifetime_then_read_the_longest() -> None:
    cache = PromptCache(Clock(), seed=0)
    parts = [_block(1200, ONE_HOUR), _block(900, FIVE_MINUTES, "m"), _block(50, None, "q")]
    extended = [*parts[:2], _block(1000, FIVE_MINUTES, "n")]

    first = cache.breakpoints("claude", ONE_POD, parts)
    second = cache.breakpoints("claude", ONE_POD, parts)
    third = cache.breakpoints("claude", ONE_POD, extended)

    assert first == CacheUsage(read=0, written_5m=900, written_1h=1200)
    assert second == CacheUsage(read=2100)
    assert third == CacheUsage(read=2100, written_5m=1000)


def test_breakpoints_below_the_minimum_are_not_cached() -> None:
    cache = PromptCache(Clock(), seed=0)
    short = [_block(500, FIVE_MINUTES), _block(400, FIVE_MINUTES, "m")]
    haiku = Settings(pods=1, min_tokens=2048)
    mixed = [_block(1500, FIVE_MINUTES), _block(600, FIVE_MINUTES, "m")]

    assert [cache.breakpoints("claude", ONE_POD, short) for _ in range(2)] == [CacheUsage()] * 2
    assert cache.breakpoints("haiku", haiku, mixed) == CacheUsage(written_5m=2100)
    assert cache.breakpoints("haiku", haiku, mixed) == CacheUsage(read=2100)


def test_no_breakpoint_means_no_cache() -> None:
    cache = PromptCache(Clock(), seed=0)

    assert [cache.breakpoints("claude", ONE_POD, [_block(3000)]) for _ in range(2)] == [CacheUsage()] * 2


def test_an_hour_entry_outlives_a_five_minute_one_and_reads_renew_it() -> None:
    clock = Clock()
    cache = PromptCache(clock, seed=0)
    parts = [_block(1100, ONE_HOUR), _block(1100, FIVE_MINUTES, "m")]

    cache.breakpoints("claude", ONE_POD, parts)
    clock.now += 3000
    later = cache.breakpoints("claude", ONE_POD, parts)
    clock.now += 3000
    renewed = cache.breakpoints("claude", ONE_POD, parts)

    assert later == CacheUsage(read=1100, written_5m=1100)
    assert renewed == CacheUsage(read=1100, written_5m=1100)


def test_a_prefix_being_written_is_read_by_nobody_until_the_writers_prefill_is_over() -> None:
    clock = Clock()
    cache = PromptCache(clock, seed=0)
    slow = Settings(pods=1, prefill_seconds=0.2)
    system = [_block(2000, FIVE_MINUTES)]
    start = clock()

    first = cache.breakpoints("claude", slow, system, arrived=start)
    during = cache.breakpoints("claude", slow, system, arrived=start + 0.1)
    after = cache.breakpoints("claude", slow, system, arrived=start + 0.2)

    assert (first.written_5m, during.written_5m, after.written_5m) == (2000, 2000, 0)
    assert after.read == 2000
    assert [
        cache.automatic("gpt", slow, _user(1500), None, arrived=start + t).read for t in (0, 0.1, 0.3)
    ] == [
        0,
        0,
        1408,
    ]


def test_a_moved_breakpoint_reads_what_was_written_up_to_twenty_blocks_before_it() -> None:
    """A conversation marks its newest message each turn: the previous turn's write point is found by
    the lookback while it is at most twenty blocks back, and not beyond."""
    cache = PromptCache(Clock(), seed=0)
    turn = [_block(1100, FIVE_MINUTES, "s")]
    near = [
        _block(1100, None, "s"),
        *(_block(10, None, f"{n}") for n in "abcdefghijklmnopqrs"),
        _block(10, FIVE_MINUTES, "t"),
    ]
    far = [
        _block(1100, None, "s"),
        *(_block(10, None, f"{n}") for n in "abcdefghijklmnopqrst"),
        _block(10, FIVE_MINUTES, "u"),
    ]

    assert cache.breakpoints("claude", ONE_POD, turn) == CacheUsage(written_5m=1100)
    assert cache.breakpoints("claude", ONE_POD, near) == CacheUsage(read=1100, written_5m=200)  # 20 back
    other = PromptCache(Clock(), seed=0)
    assert other.breakpoints("claude", ONE_POD, turn) == CacheUsage(written_5m=1100)
    assert other.breakpoints("claude", ONE_POD, far) == CacheUsage(written_5m=1310)  # 21 back: cold
