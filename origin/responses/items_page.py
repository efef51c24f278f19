"""A page of a response's input items, as ``client.responses.input_items.list`` asks for it: ``order``
(``desc``, newest first, by default), ``after`` an item id, ``limit`` 1 to 100 (20 by default)."""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from origin.http.errors import invalid_request
from origin.providers.base import JSON

DEFAULT_LIMIT: Final = 20
MAX_LIMIT: Final = 100
PARAMS: Final = ("order", "after", "limit", "include")


@dataclass(frozen=True, slots=True)
class ItemsPage:
    order: str = "desc"
    after: str | None = None
    limit: int = DEFAULT_LIMIT

    @classmethod
    def from_query(cls, query: Mapping[str, str]) -> "ItemsPage":
        unknown = sorted(set(query) - set(PARAMS) - {"include[]"})
        if unknown:
            raise invalid_request(
                f"Unknown parameter {unknown[0]!r}.", code="unknown_parameter", param=unknown[0]
            )
        order = query.get("order", "desc")
        if order not in ("asc", "desc"):
            raise invalid_request("order must be 'asc' or 'desc'.", code="invalid_value", param="order")
        limit = query.get("limit", str(DEFAULT_LIMIT))
        if not limit.isdigit() or not 1 <= int(limit) <= MAX_LIMIT:
            raise invalid_request(
                f"limit must be a whole number from 1 to {MAX_LIMIT}.", code="invalid_value", param="limit"
            )
        return cls(order, query.get("after") or None, int(limit))

    def of(self, items: list[JSON]) -> JSON:
        """The page of ``items`` (in the order they were given) this asks for."""
        ordered = items if self.order == "asc" else items[::-1]
        start = 0
        if self.after is not None:
            ids = [item["id"] for item in ordered]
            if self.after not in ids:
                raise invalid_request(f"No input item '{self.after}' in this response.", param="after")
            start = ids.index(self.after) + 1
        data = ordered[start : start + self.limit]
        return {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": start + self.limit < len(ordered),
        }
