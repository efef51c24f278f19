"""The usage API's query parameters, parsed once for the HTTP endpoints and the ``prism usage`` CLI.

Every parser takes the raw ``(name, value)`` pairs of a query string and either returns typed
filters or raises ``FilterError`` naming the parameter, so the caller can answer 400 with ``param``.
Time windows are half-open: ``since <= created_at < until``.
"""

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, TypeAlias

from shared.errors import InvalidHeader
from shared.session import MAX_LENGTH as SESSION_MAX_LENGTH
from shared.session import parse_session
from shared.tags import MAX_LENGTH as MAX_TAG_LENGTH
from shared.text import has_control
from shared.usage import CACHE_STATUSES

Params: TypeAlias = Sequence[tuple[str, str]]
Clock: TypeAlias = Callable[[], datetime]

DEFAULT_SINCE: Final = "30d"
DEFAULT_LIMIT: Final = 50
MAX_LIMIT: Final = 500
BUCKETS: Final = {"minute": timedelta(minutes=1), "hour": timedelta(hours=1), "day": timedelta(days=1)}
DEFAULT_BUCKET: Final = "hour"
MAX_POINTS: Final = 10_000
# Minutes are summed from the rows (hours and days from the rollups): a day of them is fast at 10M
# rows; the extra hour lets "since=24h" through whatever the clock did between two reads.
MAX_MINUTE_WINDOW: Final = timedelta(hours=25)
_RELATIVE: Final = re.compile(r"(\d{1,9})([mhd])")
_UNITS: Final = {"m": "minutes", "h": "hours", "d": "days"}
# An unencoded "+" in a query string arrives as a space: "...T10:00:00 02:00" meant "+02:00".
_SPACED_OFFSET: Final = re.compile(r" (\d{2}(?::?\d{2})?)$")
_MAX_TEXT: Final = 256
WINDOW_PARAMS: Final = frozenset({"since", "until", "project"})
REQUEST_FILTER_PARAMS: Final = frozenset({"session", "tag", "cache_status", "model", "success"})
PAGE_PARAMS: Final = frozenset({"limit", "cursor"})


class FilterError(ValueError):
    def __init__(self, param: str, message: str) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True, slots=True)
class Window:
    """Which rows a report covers: a time range, and optionally only some of the caller's projects."""

    since: datetime
    until: datetime | None = None
    projects: frozenset[str] | None = None


@dataclass(frozen=True, slots=True)
class RequestFilters:
    session: str | None = None
    tags: tuple[tuple[str, str], ...] = ()
    cache_status: str | None = None
    model: str | None = None
    success: bool | None = None


@dataclass(frozen=True, slots=True)
class Cursor:
    """The last row of a page: the next page starts strictly after it (newest first)."""

    created_at: datetime
    request_id: str

    def encode(self) -> str:
        raw = f"{self.created_at.isoformat()}|{self.request_id}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> "Cursor":
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
            stamp, request_id = raw.split("|")
            created_at = datetime.fromisoformat(stamp)
            if created_at.tzinfo is None:
                raise ValueError("naive")
            return cls(created_at, str(uuid.UUID(request_id)))
        except (ValueError, binascii.Error, UnicodeDecodeError):
            raise FilterError("cursor", "cursor is not one this API returned") from None


@dataclass(frozen=True, slots=True)
class Page:
    limit: int = DEFAULT_LIMIT
    after: Cursor | None = None


def _now() -> datetime:
    return datetime.now(UTC)


def check_known(params: Params, allowed: Collection[str]) -> None:
    """A misspelt filter must not silently widen a report."""
    for name, _ in params:
        if name not in allowed:
            raise FilterError(name, f"unknown parameter {name!r}; accepted: {', '.join(sorted(allowed))}")


def _single(params: Params, name: str) -> str | None:
    values = [value for key, value in params if key == name]
    if len(values) > 1:
        raise FilterError(name, f"{name} may be given once")
    return values[0] if values else None


def parse_time(text: str, *, param: str, now: datetime) -> datetime:
    """ISO-8601 (naive means UTC) or a relative ``30m`` / ``24h`` / ``7d`` before ``now``."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative:
        amount, unit = int(relative[1]), _UNITS[relative[2]]
        try:
            return now - timedelta(**{unit: amount})
        except OverflowError:
            raise FilterError(param, f"{param}={text!r} reaches too far back") from None
    for candidate in (text.strip(), _SPACED_OFFSET.sub(r"+\1", text.strip())):
        try:
            stamp = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)
    raise FilterError(param, f"{param} must be ISO-8601 (2025-01-31T12:00:00Z) or relative (30m, 24h, 7d)")


def parse_window(params: Params, *, clock: Clock = _now) -> Window:
    now = clock()
    since = parse_time(_single(params, "since") or DEFAULT_SINCE, param="since", now=now)
    until_text = _single(params, "until")
    until = None if until_text is None else parse_time(until_text, param="until", now=now)
    if until is not None and until <= since:
        raise FilterError("until", "until must be later than since")
    projects = [value for key, value in params if key == "project"]
    return Window(since, until, frozenset(_uuid(value, "project") for value in projects) or None)


def _session(text: str | None, param: str, name: str) -> str | None:
    try:
        session = parse_session(text)
    except InvalidHeader:
        message = f"{name} must be at most {SESSION_MAX_LENGTH} printable ASCII characters without spaces"
        raise FilterError(param, message) from None
    if text is not None and session is None:
        raise FilterError(param, f"{name} cannot be empty")
    return session


def parse_session_id(text: str) -> str:
    """A session id from a path (``/sessions/{id}``), checked like the ``session`` filter."""
    session = _session(text, "session_id", "session id")
    assert session is not None
    return session


def parse_request_id(text: str) -> str:
    """A request id from a path (``/requests/{id}``), in its canonical UUID form."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise FilterError("request_id", "request id must be a UUID") from None


def parse_request_filters(params: Params) -> RequestFilters:
    session = _session(_single(params, "session"), "session", "session")
    cache_status = _single(params, "cache_status")
    if cache_status is not None and cache_status not in CACHE_STATUSES:
        raise FilterError("cache_status", f"cache_status must be one of {', '.join(sorted(CACHE_STATUSES))}")
    model = _single(params, "model")
    if model is not None and (not model or len(model) > _MAX_TEXT or has_control(model)):
        raise FilterError("model", f"model must be 1-{_MAX_TEXT} printable characters")
    return RequestFilters(
        session=session,
        tags=_tags([value for key, value in params if key == "tag"]),
        cache_status=cache_status,
        model=model,
        success=_boolean(_single(params, "success"), "success"),
    )


def parse_page(params: Params) -> Page:
    limit_text = _single(params, "limit")
    limit = DEFAULT_LIMIT
    if limit_text is not None:
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIMIT:
            raise FilterError("limit", f"limit must be an integer from 1 to {MAX_LIMIT}")
        limit = int(limit_text)
    cursor = _single(params, "cursor")
    return Page(limit, None if not cursor else Cursor.decode(cursor))


def parse_tag_key(params: Params) -> str:
    key = _single(params, "key")
    if not key:
        raise FilterError("key", "key is required: the tag key to group by, for example key=feature")
    if len(key) > MAX_TAG_LENGTH or has_control(key):
        raise FilterError("key", f"key must be at most {MAX_TAG_LENGTH} printable characters")
    return key


def parse_bucket(params: Params, window: Window, *, clock: Clock = _now) -> str:
    bucket = _single(params, "bucket") or DEFAULT_BUCKET
    if bucket not in BUCKETS:
        raise FilterError("bucket", f"bucket must be one of {', '.join(BUCKETS)}")
    end = window.until or clock()
    if (end - bucket_start(window.since, bucket)) // BUCKETS[bucket] >= MAX_POINTS:
        raise FilterError("bucket", f"over {MAX_POINTS} {bucket}s: use a coarser bucket or a shorter window")
    if bucket == "minute" and end - window.since > MAX_MINUTE_WINDOW:
        raise FilterError("bucket", "bucket=minute covers at most 25 hours: use hour, or a later since")
    return bucket


def bucket_start(stamp: datetime, bucket: str) -> datetime:
    """The UTC bucket ``stamp`` falls in (what Postgres's ``date_trunc(bucket, t, 'UTC')`` gives)."""
    stamp = stamp.astimezone(UTC).replace(second=0, microsecond=0)
    if bucket in ("hour", "day"):
        stamp = stamp.replace(minute=0)
    if bucket == "day":
        stamp = stamp.replace(hour=0)
    return stamp


def _tags(values: list[str]) -> tuple[tuple[str, str], ...]:
    tags: dict[str, str] = {}
    for text in values:
        key, sep, value = text.partition(":")
        if not sep or not key or not value:
            raise FilterError("tag", f"tag must be key:value, not {text!r}")
        if len(key) > MAX_TAG_LENGTH or len(value) > MAX_TAG_LENGTH or has_control(text):
            raise FilterError("tag", f"tag keys and values are at most {MAX_TAG_LENGTH} printable characters")
        if key in tags:
            raise FilterError("tag", f"tag key {key!r} is given twice; a row has one value per key")
        tags[key] = value
    return tuple(tags.items())


def _boolean(text: str | None, param: str) -> bool | None:
    if text is None:
        return None
    if text.lower() not in ("true", "false"):
        raise FilterError(param, f"{param} must be true or false")
    return text.lower() == "true"


def _uuid(text: str, param: str) -> str:
    try:
        return str(uuid.UUID(text))
    except ValueError:
        raise FilterError(param, f"{param} must be a project id (a UUID)") from None
