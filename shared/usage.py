"""The one shape of a usage row, shared by the origin's writer and the edge's hand-off."""

import json
import re
import uuid
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any, Final

MISS: Final = "miss"
HIT_EXACT: Final = "hit-exact"
HIT_SEMANTIC: Final = "hit-semantic"
HIT_EXACT_EDGE: Final = "hit-exact-edge"
BYPASS: Final = "bypass"
CACHE_STATUSES: Final = frozenset({MISS, HIT_EXACT, HIT_SEMANTIC, HIT_EXACT_EDGE, BYPASS})
# The ``provider`` of a row answered from a cache, at either tier.
CACHE_PROVIDER: Final = "cache"


def _now() -> datetime:
    return datetime.now(UTC)


def new_request_id() -> str:
    return str(uuid.uuid4())


@dataclass(slots=True)
class UsageRow:
    """One request's accounting. Money is in cents, as floats with sub-cent precision."""

    org_id: str
    project_id: str
    key_id: str
    request_id: str = field(default_factory=new_request_id)
    created_at: datetime = field(default_factory=_now)
    mode: str = "balanced"
    task_type: str | None = None
    model_used: str | None = None
    provider: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    tokens_cached_in: int = 0
    tokens_cache_write_5m: int = 0
    tokens_cache_write_1h: int = 0
    cost_provider_cents: float = 0.0
    cost_total_cents: float = 0.0
    latency_ms: int = 0
    was_streaming: bool = False
    success: bool = True
    status_code: int = 200
    error_code: str | None = None
    session_id: str | None = None
    request_tags: dict[str, str] | None = None
    cache_status: str = MISS
    cache_saved_cents: float = 0.0
    edge_region: str | None = None
    # The stable prompt prefix (tools, system) when long enough for the provider to cache: its
    # fingerprint, for the project and the model (origin.chat.prefix_flight), and its estimated tokens.
    prefix_fp: str | None = None
    prefix_tokens: int = 0
    model_version: str | None = None  # what answered, in the provider's words (a change empties its cache)

    def to_wire(self) -> str:
        """JSON for the edge → origin hand-off and the spool file."""
        data = {name: getattr(self, name) for name in COLUMNS}  # asdict's deep copy took 4x as long
        data["created_at"] = self.created_at.isoformat()
        return json.dumps(data, separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_wire(cls, text: str | bytes) -> "UsageRow":
        """Parse and validate a wire row; raise ``ValueError`` naming the bad field."""
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("usage row must be a JSON object")
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "UsageRow":
        """Validate a wire row's fields; raise ``ValueError`` naming the bad one."""
        values = _plainly_valid(data)
        return cls(**_checked(data)) if values is None else cls(*values)


COLUMNS: Final = tuple(f.name for f in fields(UsageRow))
_COLUMN_SET: Final = frozenset(COLUMNS)
_REQUIRED: Final = frozenset({"org_id", "project_id", "key_id", "request_id", "created_at"})
_STRINGS: Final = frozenset({"org_id", "project_id", "key_id", "mode"})
_OPTIONAL_STRINGS: Final = frozenset(
    {
        "task_type",
        "model_used",
        "provider",
        "error_code",
        "session_id",
        "edge_region",
        "prefix_fp",
        "model_version",
    }
)
_INTS: Final = frozenset(
    {
        "tokens_in",
        "tokens_out",
        "tokens_cached_in",
        "tokens_cache_write_5m",
        "tokens_cache_write_1h",
        "latency_ms",
        "prefix_tokens",
        "status_code",
    }
)
_MONEY: Final = frozenset({"cost_provider_cents", "cost_total_cents", "cache_saved_cents"})
_BOOLS: Final = frozenset({"was_streaming", "success"})
_MAX_TEXT: Final = 256
_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_ABSENT: Final = object()
_OPTIONAL_TEXT: Final = object()
# What ``_plainly_valid`` wants of each field in its loop (None: checked after it), and its default.
_PLAIN_KINDS: Final[dict[str, object]] = {
    **{name: str for name in _STRINGS},
    **{name: _OPTIONAL_TEXT for name in _OPTIONAL_STRINGS},
    **{name: int for name in _INTS},
    **{name: float for name in _MONEY},
    **{name: bool for name in _BOOLS},
    **{name: None for name in ("request_id", "created_at", "cache_status", "request_tags")},
}
_PLAIN_FIELDS: Final = tuple(
    (f.name, _PLAIN_KINDS[f.name], _ABSENT if f.name in _REQUIRED else f.default) for f in fields(UsageRow)
)
_REQUEST_ID, _CREATED_AT = COLUMNS.index("request_id"), COLUMNS.index("created_at")


def _plainly_valid(data: dict[str, Any]) -> list[Any] | None:
    """``data``'s values in ``COLUMNS`` order when each is already in the form a tier writes (the exact
    type, a canonical id, an aware time), in one pass that does not say what fails (half of
    ``_checked``'s time); otherwise None, and ``_checked`` names the field. Positional, as keyword
    arguments whose names are not the interned ones (orjson's keys are not) are matched by comparing
    strings with every parameter's name: five times the cost of making the row."""
    if not _REQUIRED <= data.keys() <= _COLUMN_SET:
        return None
    get = data.get
    values = []
    for name, kind, default in _PLAIN_FIELDS:
        value = get(name, default)
        if kind is str or (kind is _OPTIONAL_TEXT and value is not None):
            if type(value) is not str or len(value) > _MAX_TEXT:
                return None
        elif kind is int or kind is float:
            if type(value) is not kind or not value >= 0:  # NaN is not >= 0
                return None
        elif kind is bool and type(value) is not bool:
            return None
        values.append(value)
    request_id, stamp, tags = values[_REQUEST_ID], values[_CREATED_AT], data.get("request_tags")
    if type(request_id) is not str or _CANONICAL_UUID.fullmatch(request_id) is None:
        return None
    if data.get("cache_status", MISS) not in CACHE_STATUSES or type(stamp) is not str:
        return None
    if tags is not None and (
        type(tags) is not dict or not {*map(type, tags), *map(type, tags.values())} <= {str}
    ):
        return None
    try:
        created_at = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if created_at.tzinfo is None:
        return None
    values[_CREATED_AT] = created_at
    return values


def _checked(data: dict[str, Any]) -> dict[str, Any]:
    unknown = data.keys() - _COLUMN_SET
    if unknown:
        raise ValueError(f"unknown usage row fields: {', '.join(sorted(unknown))}")
    values: dict[str, Any] = {}
    for name in COLUMNS:
        if name not in data:
            if name in _REQUIRED:
                raise ValueError(f"usage row is missing {name!r}")
            continue
        try:
            values[name] = _check(name, data[name])
        except ValueError as error:
            message = str(error)
            raise ValueError(message if name in message else f"{name}: {message}") from None
    return values


def _check(name: str, value: Any) -> Any:
    if name == "request_id":
        if not isinstance(value, str):
            raise ValueError("request_id must be a UUID string")
        return str(uuid.UUID(value))
    if name == "created_at":
        if not isinstance(value, str):
            raise ValueError("created_at must be an ISO 8601 string")
        stamp = datetime.fromisoformat(value)
        if stamp.tzinfo is None:
            raise ValueError("created_at must carry a timezone")
        return stamp
    if name in _STRINGS or name in _OPTIONAL_STRINGS:
        if value is None and name in _OPTIONAL_STRINGS:
            return None
        if not isinstance(value, str) or len(value) > _MAX_TEXT:
            raise ValueError(f"{name} must be a string of at most {_MAX_TEXT} characters")
        return value
    if name in _INTS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return value
    if name in _MONEY:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a non-negative number")
        return float(value)
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if name == "cache_status":
        if value not in CACHE_STATUSES:
            raise ValueError(f"cache_status must be one of {', '.join(sorted(CACHE_STATUSES))}")
        return value
    if name == "request_tags":
        if value is None:
            return None
        if not isinstance(value, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise ValueError("request_tags must be an object of strings")
        return value
    raise ValueError(f"unknown usage row field {name!r}")  # pragma: no cover - COLUMNS covers all
