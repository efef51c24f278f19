"""The one shape of a usage row, shared by the origin's writer and the edge's hand-off."""

import json
import os
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
    """A random (version 4) UUID in its canonical form, in a third of ``str(uuid.uuid4())``'s time."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # the RFC 4122 variant
    digits = raw.hex()
    return f"{digits[:8]}-{digits[8:12]}-{digits[12:16]}-{digits[16:20]}-{digits[20:]}"


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
        unknown = data.keys() - _COLUMN_SET
        if unknown:
            raise ValueError(f"unknown usage row fields: {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name in COLUMNS:
            if name not in data:
                if name in REQUIRED_FIELDS:
                    raise ValueError(f"usage row is missing {name!r}")
                continue
            try:
                values[name] = _check(name, data[name])
            except ValueError as error:
                message = str(error)
                raise ValueError(message if name in message else f"{name}: {message}") from None
        return cls(**values)


COLUMNS: Final = tuple(f.name for f in fields(UsageRow))
_COLUMN_SET: Final = frozenset(COLUMNS)
REQUIRED_FIELDS: Final = frozenset({"org_id", "project_id", "key_id", "request_id", "created_at"})
TEXT_FIELDS: Final = frozenset({"org_id", "project_id", "key_id", "mode"})
OPTIONAL_TEXT_FIELDS: Final = frozenset(
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
COUNT_FIELDS: Final = frozenset(
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
MONEY_FIELDS: Final = frozenset({"cost_provider_cents", "cost_total_cents", "cache_saved_cents"})
FLAG_FIELDS: Final = frozenset({"was_streaming", "success"})
MAX_TEXT: Final = 256


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
    if name in TEXT_FIELDS or name in OPTIONAL_TEXT_FIELDS:
        if value is None and name in OPTIONAL_TEXT_FIELDS:
            return None
        if not isinstance(value, str) or len(value) > MAX_TEXT:
            raise ValueError(f"{name} must be a string of at most {MAX_TEXT} characters")
        return value
    if name in COUNT_FIELDS:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer")
        return value
    if name in MONEY_FIELDS:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
            raise ValueError(f"{name} must be a non-negative number")
        return float(value)
    if name in FLAG_FIELDS:
        if not isinstance(value, bool):
            raise ValueError(f"{name} must be a boolean")
        return value
    if name == "cache_status":
        if not isinstance(value, str) or value not in CACHE_STATUSES:  # a list or an object is unhashable
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
