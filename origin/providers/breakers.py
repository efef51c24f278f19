"""Per-model circuit breakers and jittered backoff."""

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # origin.config reads the embeddings config, whose client uses the breakers
    from origin.config import BreakerConfig, Retries


class BreakerState(Enum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class Permit(Enum):
    """``PROBE``: the caller holds a half-open circuit's single probe and must end it with
    ``record_success``, ``record_failure`` or ``release``, whatever happens."""

    DENIED = 0
    GRANTED = 1
    PROBE = 2


@dataclass(slots=True)
class _Circuit:
    failures: int = 0
    opened_at: float | None = None
    probing: bool = False


class Breakers:
    """One circuit per model. Open after N consecutive failures; after the cooldown one probe goes through."""

    def __init__(self, config: "BreakerConfig", clock: Callable[[], float] = time.monotonic) -> None:
        self._config = config
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def state(self, model: str) -> BreakerState:
        circuit = self._circuits.get(model)
        if circuit is None or circuit.opened_at is None:
            return BreakerState.CLOSED
        if self._clock() - circuit.opened_at >= self._config.cooldown_seconds:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def permit(self, model: str) -> Permit:
        """Whether a request may go to this model now; claims the probe when half-open."""
        state = self.state(model)
        if state is BreakerState.CLOSED:
            return Permit.GRANTED
        if state is BreakerState.OPEN:
            return Permit.DENIED
        circuit = self._circuits[model]
        if circuit.probing:
            return Permit.DENIED
        circuit.probing = True
        return Permit.PROBE

    def allow(self, model: str) -> bool:
        return self.permit(model) is not Permit.DENIED

    def release(self, model: str) -> None:
        """Give the probe back without judging the model (client error, bug, cancellation)."""
        circuit = self._circuits.get(model)
        if circuit is not None:
            circuit.probing = False

    def record_success(self, model: str) -> None:
        self._circuits.pop(model, None)

    def record_failure(self, model: str) -> None:
        circuit = self._circuits.setdefault(model, _Circuit())
        circuit.failures += 1
        if circuit.probing or circuit.failures >= self._config.failure_threshold:
            circuit.opened_at = self._clock()
        circuit.probing = False

    def states(self) -> dict[str, BreakerState]:
        return {model: self.state(model) for model in self._circuits}


def backoff_delay(
    attempt: int, retries: "Retries", rng: random.Random, retry_after: float | None = None
) -> float:
    """Full jitter: uniform in [0, min(max, base · 2^attempt)], never below a (capped) Retry-After."""
    ceiling = min(retries.backoff_max, retries.backoff_base * (2**attempt))
    delay = rng.uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, retries.backoff_max))
    return delay
