"""The side-by-side table and its target lines, computed from given numbers."""

from dataclasses import replace

from bench.compare import Comparison
from bench.result import LoadResult, Runs
from bench.scenarios import SCENARIOS
from bench.sidebyside import (
    Figures,
    Floor,
    SideBySide,
    floor_lines,
    from_rows,
    hit_target_lines,
    table,
    target_lines,
)
from bench.usagerows import UsageCount


def runs(*results: LoadResult) -> Runs:
    return Runs(results)


def figures(rps: float, p50_ms: float, usage: UsageCount | None = None) -> Figures:
    at_1, at_32 = LoadResult(100, 1.0, p50_ms, p50_ms * 2), LoadResult(round(rps * 4), 4.0, 9.0, 20.0)
    return Figures(runs(at_1), runs(at_32), usage)


def side_by_side(
    scenario: str, prism: tuple[float, float], portkey: tuple[float, float] | None
) -> SideBySide:
    measured = {
        "upstream": figures(9000, 0.2),
        "passthrough": figures(2000, 1.0),
        "prism": figures(*prism, usage=UsageCount(rows=6_832, answered=6_900, unanswered_at_most=99)),
    }
    if portkey is not None:
        measured["portkey"] = figures(*portkey)
    skipped = {"litellm": "not installed (make bench-peers)"}
    if portkey is None:
        skipped["portkey"] = "node is not installed"
    return SideBySide(scenario, "a summary", 3, measured, skipped)


def test_targets_met_are_said_so_with_the_ratios_over_the_passthrough_and_portkey() -> None:
    lines = target_lines(side_by_side("chat", prism=(1700, 1.2), portkey=(800, 3.0)))
    assert lines == [
        "chat: Prism req/s @32 = 0.85x the passthrough's (target ≥ 0.8x) met",
        "chat: Prism p50 @1 = +0.20 ms over the passthrough's (target ≤ 0.3 ms) met",
        "chat: Prism req/s @32 = 2.12x Portkey's (target ≥ 2x) met",
        "chat: Prism ≥ 20x LiteLLM: not measured",
    ]


def test_missed_targets_print_missed_and_streaming_has_no_latency_target() -> None:
    lines = target_lines(side_by_side("chat-stream", prism=(1200, 2.0), portkey=(700, 3.0)))
    assert lines == [
        "chat-stream: Prism req/s @32 = 0.60x the passthrough's (target ≥ 0.8x) MISSED",
        "chat-stream: Prism req/s @32 = 1.71x Portkey's (target ≥ 2x) MISSED",
        "chat-stream: Prism ≥ 20x LiteLLM: not measured",
    ]


def test_a_peer_not_measured_has_dashes_and_its_reason() -> None:
    row = side_by_side("chat", prism=(1700, 1.2), portkey=None)
    printed = table(row).splitlines()
    assert printed[0] == "chat: a summary (median of 3 runs)"
    assert printed[1].split() == ["upstream", "passthrough", "prism", "portkey", "litellm"]
    assert printed[2].split() == ["req/s", "@32", "9,000", "2,000", "1,700", "-", "-"]
    assert printed[3].split() == ["ratio", "-", "-", "0.85x", "-", "-"]
    assert printed[5].split() == ["added", "-", "-", "+0.20", "-", "-"]
    assert "LiteLLM: not installed (make bench-peers)" in printed
    assert "Portkey: node is not installed" in printed
    assert target_lines(row)[-2:] == [
        "chat: Prism ≥ 2x Portkey: not measured",
        "chat: Prism ≥ 20x LiteLLM: not measured",
    ]


def test_only_prism_has_usage_rows_the_others_a_dash() -> None:
    printed = table(side_by_side("chat", prism=(1700, 1.2), portkey=(800, 3.0))).splitlines()
    assert printed[6].split() == ["usage", "rows", "-", "-", "6,832", "-", "-"]
    assert printed[7].split() == ["requests", "answered", "-", "-", "6,900", "-", "-"]


def test_upstream_and_prism_come_from_the_scenarios_rows_at_1_and_32_with_prisms_usage_summed() -> None:
    chat = next(scenario for scenario in SCENARIOS if scenario.name == "chat")
    low, high = figures(100, 0.5), figures(100, 0.9)
    rows = [
        Comparison("chat", 1, low.at_1, high.at_1, usage=UsageCount(110, 100, 10)),
        Comparison("chat", 32, low.at_32, high.at_32, usage=UsageCount(400, 400, 64)),
    ]
    assert from_rows(chat, rows) == {
        "upstream": Figures(low.at_1, low.at_32),
        "prism": Figures(high.at_1, high.at_32, UsageCount(510, 500, 74)),
    }
    assert from_rows(chat, rows[:1]) is None


def hit_row(rps: float, connections: int = 32) -> Comparison:
    answered = runs(LoadResult(round(rps * 4), 4.0, 1.0, 2.0))
    return Comparison("cache-hit", connections, answered, answered, expect_hits=True)


def test_the_exact_cache_hit_target_is_over_the_passthroughs_miss_req_s() -> None:
    chat = [side_by_side("chat", prism=(1700, 1.2), portkey=None)]
    assert hit_target_lines(chat, [hit_row(3500)]) == [
        "cache-hit: Prism hits/s @32 = 1.75x the passthrough's chat req/s (target ≥ 1.5x) met"
    ]
    assert hit_target_lines(chat, [hit_row(2000)]) == [
        "cache-hit: Prism hits/s @32 = 1.00x the passthrough's chat req/s (target ≥ 1.5x) MISSED"
    ]


def test_no_hit_target_without_the_hit_at_32_or_the_passthroughs_chat() -> None:
    chat = [side_by_side("chat", prism=(1700, 1.2), portkey=None)]
    stream_only = [side_by_side("chat-stream", prism=(1700, 1.2), portkey=None)]
    assert hit_target_lines(chat, [hit_row(3500, connections=1)]) == []
    assert hit_target_lines(stream_only, [hit_row(3500)]) == []
    assert hit_target_lines([], [hit_row(3500)]) == []


def test_the_floor_line_says_what_the_hit_target_leaves_above_the_servers_own_cost() -> None:
    chat = replace(side_by_side("chat", prism=(1700, 1.2), portkey=None), floor=Floor(5000, 180.0))
    # The passthrough's chat: 2,000 req/s, so the target is 3,000 hits/s, 333 µs of a core each.
    assert floor_lines([chat]) == [
        "floor: the passthrough answering the POST itself (no upstream): 5,000 req/s @32,"
        " 180 µs of server CPU a request",
        "floor: 1.5x the passthrough's chat req/s is 3,000 hits/s, 333 µs of a core a hit:"
        " +153 µs over this floor for all of Prism's own work",
    ]


def test_no_floor_line_without_the_floor_or_the_passthroughs_chat() -> None:
    assert floor_lines([side_by_side("chat", prism=(1700, 1.2), portkey=None)]) == []
    stream = replace(side_by_side("chat-stream", prism=(1700, 1.2), portkey=None), floor=Floor(5000, 180.0))
    assert floor_lines([stream]) == []


def test_litellm_measured_gets_its_ratio_and_its_target() -> None:
    row = side_by_side("chat", prism=(1700, 1.2), portkey=(800, 3.0))
    measured = {**row.figures, "litellm": figures(80, 12.0)}
    row = SideBySide(row.scenario, row.summary, row.repeats, measured, {})

    assert target_lines(row)[-1] == "chat: Prism req/s @32 = 21.25x LiteLLM's (target ≥ 20x) met"
    ratios = next(line for line in table(row).splitlines() if line.startswith("  ratio"))
    assert ratios.split() == ["ratio", "-", "-", "0.85x", "2.12x", "21.25x"]
