"""The seed's row generator: the counts asked for, a daily rhythm, sessions that hold together."""

from collections import defaultdict
from datetime import timedelta

from origin.usage.seed import ENVS, FEATURES, TEAMS, SeedProject, generate, hour_weight, hourly_counts
from shared.usage import CACHE_STATUSES, HIT_EXACT_EDGE, UsageRow
from tests.origin.usage.reference import utc

END = utc(2025, 6, 20, 15, 30)
PROJECTS = [SeedProject(f"org-{i // 2}", f"project-{i}", f"key-{i}") for i in range(4)]


def _rows(count: int, seed: int = 3) -> list[UsageRow]:
    return [row for hour in generate(PROJECTS, count, end=END, days=3, seed=seed) for row in hour]


def test_hours_get_every_row_with_busy_afternoons_and_quiet_nights() -> None:
    counts = hourly_counts(10_000, END, 3)
    assert sum(count for _, count in counts) == 10_000 and len(counts) == 72
    assert counts[-1][0] == END.replace(minute=0)
    assert hour_weight(utc(2025, 6, 18, 15)) > 2 * hour_weight(utc(2025, 6, 18, 3))
    assert hour_weight(utc(2025, 6, 21, 15)) < hour_weight(utc(2025, 6, 20, 15))  # a Saturday


def test_a_seed_names_its_rows_the_same_whenever_it_runs() -> None:
    later = [
        row
        for hour in generate(PROJECTS, 4000, end=END + timedelta(minutes=47), days=3, seed=3)
        for row in hour
    ]
    assert [r.request_id for r in later] == [r.request_id for r in _rows(4000)]
    assert {r.request_id for r in _rows(4000, seed=4)}.isdisjoint(r.request_id for r in later)


def test_rows_are_realistic_and_repeatable() -> None:
    rows = _rows(4000)
    assert len(rows) == 4000 and [r.request_id for r in rows] == [r.request_id for r in _rows(4000)]
    assert len({r.request_id for r in rows}) == 4000
    assert all(END - timedelta(days=3) <= r.created_at < END for r in rows)
    assert {r.cache_status for r in rows} == CACHE_STATUSES
    assert all((r.edge_region is not None) == (r.cache_status == HIT_EXACT_EDGE) for r in rows)
    assert {r.project_id for r in rows} == {p.project_id for p in PROJECTS}
    assert 0 < sum(not r.success for r in rows) < len(rows) * 0.1
    assert all(r.error_code is None for r in rows if r.success)
    tagged = [r.request_tags for r in rows if r.request_tags]
    assert any(len(tags) == 3 for tags in tagged) and len(tagged) < len(rows)
    assert {t.get("feature") for t in tagged} >= set(FEATURES) and {t.get("team") for t in tagged} >= set(
        TEAMS
    )
    assert {t.get("env") for t in tagged} >= set(ENVS)
    assert all(r.cost_total_cents == 0 for r in rows if r.cache_status.startswith("hit"))
    assert any(r.cache_saved_cents > 0 for r in rows) and any(r.cost_total_cents > 0 for r in rows)


def test_sessions_keep_their_project_tags_and_model_over_2_to_40_turns() -> None:
    turns: dict[str, list[UsageRow]] = defaultdict(list)
    for row in _rows(6000):
        if row.session_id is not None:
            turns[row.session_id].append(row)
    assert len(turns) > 50
    for rows in turns.values():
        assert 1 <= len(rows) <= 40  # a session cut by the row count or the end may be short
        assert len({(r.project_id, r.model_used, str(r.request_tags)) for r in rows}) == 1
        assert [r.created_at for r in rows] == sorted(r.created_at for r in rows)
    assert max(len(rows) for rows in turns.values()) > 20
    assert sum(len(rows) >= 2 for rows in turns.values()) > 0.9 * len(turns)
