"""What a request cost and what the caches saved it, told to the client: as ``X-Prism-Cost-Cents`` and
``X-Prism-Saved-Cents`` headers, or, for a stream whose headers left before the cost was known, as a
``prism`` member of its final usage chunk and an SSE comment before ``[DONE]`` (SSE clients, the
official SDKs among them, skip comments)."""

from dataclasses import dataclass
from typing import Final

from shared import headers as h

PLACES: Final = 6  # cents to a millionth: a cheap model's short answer still shows


@dataclass(frozen=True, slots=True)
class Costs:
    cost_cents: float
    saved_cents: float = 0.0

    def headers(self) -> dict[str, str]:
        return {h.COST_CENTS: _cents(self.cost_cents), h.SAVED_CENTS: _cents(self.saved_cents)}

    def extension(self) -> dict[str, float]:
        """The ``prism`` member of a stream's usage chunk."""
        return {"cost_cents": round(self.cost_cents, PLACES), "saved_cents": round(self.saved_cents, PLACES)}

    def comment(self) -> bytes:
        line = f": prism cost_cents={_cents(self.cost_cents)} saved_cents={_cents(self.saved_cents)}"
        return line.encode() + b"\n\n"


def _cents(value: float) -> str:
    return f"{value:.{PLACES}f}"
