"""The usage API's parameters: every refusal names its parameter."""

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest

from origin.usage.filters import (
    DEFAULT_LIMIT,
    MAX_LIMIT,
    Cursor,
    FilterError,
    Params,
    RequestFilters,
    Window,
    bucket_start,
    check_known,
    parse_bucket,
    parse_page,
    parse_request_filters,
    parse_request_id,
    parse_session_id,
    parse_tag_key,
    parse_time,
    parse_window,
)

NOW = datetime(2025, 3, 10, 12, 30, 45, tzinfo=UTC)


def _clock() -> datetime:
    return NOW


def _refused(param: str, parse: Callable[..., object], *args: object) -> FilterError:
    with pytest.raises(FilterError) as caught:
        parse(*args)
    assert caught.value.param == param
    return caught.value


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30m", NOW - timedelta(minutes=30)),
        ("24h", NOW - timedelta(hours=24)),
        ("7d", NOW - timedelta(days=7)),
        ("2025-03-01T00:00:00Z", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T02:00:00+02:00", datetime(2025, 3, 1, tzinfo=UTC)),
        ("2025-03-01T02:00:00 02:00", datetime(2025, 3, 1, tzinfo=UTC)),  # "+" decoded as a space
        ("2025-03-01", datetime(2025, 3, 1, tzinfo=UTC)),  # naive means UTC
    ],
)
def test_times_are_iso_or_relative(text: str, expected: datetime) -> None:
    assert parse_time(text, param="since", now=NOW) == expected


@pytest.mark.parametrize("text", ["", "yesterday", "7w", "-1d", "1.5h", "2025-13-01", "999999999d"])
def test_bad_times_name_the_parameter(text: str) -> None:
    error = _refused("until", lambda: parse_time(text, param="until", now=NOW))
    assert "until" in str(error)


def test_bad_times_through_the_window() -> None:
    _refused("since", lambda: parse_window([("since", "soon")], clock=_clock))
    _refused("until", lambda: parse_window([("since", "1d"), ("until", "2d")], clock=_clock))
    _refused("since", lambda: parse_window([("since", "1d"), ("since", "2d")], clock=_clock))
    _refused("project", lambda: parse_window([("project", "not-a-uuid")], clock=_clock))


def test_the_window_defaults_to_thirty_days() -> None:
    assert parse_window([], clock=_clock) == Window(since=NOW - timedelta(days=30))
    project = "0b7c8f5e-7f35-4c57-9c4e-3a8c1f6f2f10"
    window = parse_window([("project", project.upper()), ("until", "1h")], clock=_clock)
    assert window.projects == frozenset({project}) and window.until == NOW - timedelta(hours=1)


def test_request_filters() -> None:
    params: Params = [
        ("session", "chat-42"),
        ("tag", "feature:search"),
        ("tag", "team:core"),
        ("cache_status", "hit-exact-edge"),
        ("model", "alpha"),
        ("success", "False"),
    ]
    assert parse_request_filters(params) == RequestFilters(
        session="chat-42",
        tags=(("feature", "search"), ("team", "core")),
        cache_status="hit-exact-edge",
        model="alpha",
        success=False,
    )
    assert parse_request_filters([("tag", "url:http://x")]).tags == (("url", "http://x"),)
    assert parse_request_filters([]) == RequestFilters()


@pytest.mark.parametrize(
    ("params", "param"),
    [
        ([("session", "has space")], "session"),
        ([("session", "x" * 129)], "session"),
        ([("session", "")], "session"),
        ([("tag", "feature")], "tag"),
        ([("tag", ":v")], "tag"),
        ([("tag", "k:")], "tag"),
        ([("tag", "a:1"), ("tag", "a:2")], "tag"),
        ([("tag", "k:" + "v" * 65)], "tag"),
        ([("cache_status", "hit")], "cache_status"),
        ([("model", "")], "model"),
        ([("success", "yes")], "success"),
        ([("success", "true"), ("success", "false")], "success"),
    ],
)
def test_bad_request_filters_name_the_parameter(params: Params, param: str) -> None:
    _refused(param, parse_request_filters, params)


def test_pages() -> None:
    assert parse_page([]).limit == DEFAULT_LIMIT and parse_page([]).after is None
    assert parse_page([("limit", str(MAX_LIMIT))]).limit == MAX_LIMIT
    for bad in ("0", "501", "-1", "ten", "1e2"):
        _refused("limit", parse_page, [("limit", bad)])


def test_cursors_round_trip_and_refuse_forgeries() -> None:
    cursor = Cursor(datetime(2025, 3, 1, 1, 2, 3, 456789, tzinfo=UTC), "0b7c8f5e-7f35-4c57-9c4e-3a8c1f6f2f10")
    assert parse_page([("cursor", cursor.encode())]).after == cursor
    assert "=" not in cursor.encode() and "|" not in cursor.encode()
    for bad in ("!!", "bm9wZQ", Cursor(cursor.created_at.replace(tzinfo=None), cursor.request_id).encode()):
        _refused("cursor", parse_page, [("cursor", bad)])


def test_tag_key_is_required() -> None:
    assert parse_tag_key([("key", "feature")]) == "feature"
    _refused("key", parse_tag_key, [])
    _refused("key", parse_tag_key, [("key", "")])
    _refused("key", parse_tag_key, [("key", "k" * 65)])


def test_buckets() -> None:
    day = Window(since=NOW - timedelta(days=1))
    assert parse_bucket([], day, clock=_clock) == "hour"
    assert parse_bucket([("bucket", "minute")], day, clock=_clock) == "minute"
    _refused("bucket", parse_bucket, [("bucket", "week")], day)
    month = Window(since=NOW - timedelta(days=30))
    error = _refused("bucket", lambda: parse_bucket([("bucket", "minute")], month, clock=_clock))
    assert "coarser" in str(error)
    two_days = Window(since=NOW - timedelta(days=2))
    error = _refused("bucket", lambda: parse_bucket([("bucket", "minute")], two_days, clock=_clock))
    assert "25 hours" in str(error)
    assert parse_bucket([("bucket", "hour")], two_days, clock=_clock) == "hour"
    assert bucket_start(NOW, "minute") == datetime(2025, 3, 10, 12, 30, tzinfo=UTC)
    assert bucket_start(NOW, "hour") == datetime(2025, 3, 10, 12, tzinfo=UTC)
    assert bucket_start(NOW.astimezone(timezone(timedelta(hours=13))), "day") == datetime(
        2025, 3, 10, tzinfo=UTC
    )


def test_unknown_parameters_are_refused() -> None:
    check_known([("since", "1d")], {"since"})
    error = _refused("sesion", check_known, [("sesion", "x")], {"since", "session"})
    assert "session" in str(error)


def test_path_ids_are_checked_like_their_filters() -> None:
    assert parse_session_id("conv-42") == "conv-42"
    assert "session id" in str(_refused("session_id", parse_session_id, "has space"))
    assert "session id" in str(_refused("session_id", parse_session_id, "x" * 500))
    request_id = "0F8FAD5B-D9CB-469F-A165-70867728950E"
    assert parse_request_id(request_id) == request_id.lower()
    assert "UUID" in str(_refused("request_id", parse_request_id, "not-a-uuid"))
