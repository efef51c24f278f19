import random

from origin.config import BreakerConfig, Retries
from origin.providers.breakers import Breakers, BreakerState, Permit, backoff_delay
from tests.clock import Clock


def test_breaker_opens_after_threshold_then_probes_once() -> None:
    clock = Clock(0.0)
    breakers = Breakers(BreakerConfig(failure_threshold=3, cooldown_seconds=10), clock)
    for _ in range(2):
        breakers.record_failure("m")
    assert breakers.allow("m")
    breakers.record_failure("m")
    assert breakers.state("m") is BreakerState.OPEN and not breakers.allow("m")
    clock.now = 10
    assert breakers.state("m") is BreakerState.HALF_OPEN
    assert breakers.allow("m") and not breakers.allow("m")  # one probe only
    breakers.record_failure("m")  # failed probe re-opens at once
    assert breakers.state("m") is BreakerState.OPEN
    clock.now = 20
    assert breakers.allow("m")
    breakers.record_success("m")
    assert breakers.state("m") is BreakerState.CLOSED and breakers.allow("m")


def test_success_resets_the_count() -> None:
    breakers = Breakers(BreakerConfig(failure_threshold=2, cooldown_seconds=10), Clock(0.0))
    breakers.record_failure("m")
    breakers.record_success("m")
    breakers.record_failure("m")
    assert breakers.state("m") is BreakerState.CLOSED
    assert breakers.states() == {"m": BreakerState.CLOSED}


def test_backoff_is_jittered_capped_and_honours_retry_after() -> None:
    retries = Retries(attempts=3, backoff_base=0.1, backoff_max=1.0)
    rng = random.Random(1)
    delays = [backoff_delay(attempt, retries, rng) for attempt in range(10) for _ in range(20)]
    assert all(0 <= d <= 1.0 for d in delays) and len(set(delays)) > 100
    assert all(backoff_delay(0, retries, rng) <= 0.1 for _ in range(50))
    assert backoff_delay(0, retries, rng, retry_after=0.5) >= 0.5
    assert backoff_delay(0, retries, rng, retry_after=30) == 1.0


def test_a_released_probe_can_be_claimed_again_without_a_verdict() -> None:
    clock = Clock(0.0)
    breakers = Breakers(BreakerConfig(failure_threshold=1, cooldown_seconds=10), clock)
    assert breakers.permit("m") is Permit.GRANTED
    breakers.release("m")  # nothing claimed: a no-op, the circuit stays closed
    assert breakers.state("m") is BreakerState.CLOSED
    breakers.record_failure("m")
    assert breakers.permit("m") is Permit.DENIED
    clock.now = 10
    assert breakers.permit("m") is Permit.PROBE and breakers.permit("m") is Permit.DENIED
    breakers.release("m")
    assert breakers.state("m") is BreakerState.HALF_OPEN
    assert breakers.permit("m") is Permit.PROBE
