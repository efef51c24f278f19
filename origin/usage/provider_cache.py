"""The provider-cache report: what the providers' prompt caches did for a project, and where it went cold.

- **Sessions**: the cached share per turn; a *cold turn* is a turn after the first whose stable prefix
  is the previous turn's but that read nothing. Long sessions (five turns or more) are reported
  beside the overall share, so an average cannot hide them going cold.
- **Prefixes**: how many distinct stable prefixes (tools and system prompt, as fingerprints; no
  prompt text is kept) serve how much traffic. When there are about as many prefixes as sessions
  the prefix differs per user: every one is written cold at least once, and that money is at least
  what the report says was lost. Where they part is surveyed as requests arrive
  (``origin/chat/prefix_survey.py``): the token at which most prefixes first differ from the
  project's reference prefix, with a redacted excerpt of the text just before it.
- **Stampedes**: requests that found one prefix cold within two seconds of each other, each paying
  the write the first was already paying; the extra writes are priced.
- **Changes**: when the version that answers a model (OpenAI's ``system_fingerprint``, Anthropic's
  dated model id) changed, with the cached share in the hour before and the ten minutes after; a
  drop of ten points or more is flagged.
- **Warm-ups**: each scheduled prefix warm-up, how often it ran, how many intervals it missed, and
  whether it is overdue now (``origin/chat/warmup.py``).

Money is priced from the config's price table at today's prices (a model no longer configured
counts no money). Only rows a provider answered count.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from origin.chat.prefix_survey import Divergence, PrefixSurvey
from origin.providers.base import Price
from origin.stores import warmups
from origin.stores.postgres import Pool
from origin.stores.sql import query
from origin.stores.warmups import Warmup
from origin.usage.filters import Window
from origin.usage.reports import Scope, visible_projects

LONG_SESSION_TURNS: Final = 5
WORST: Final = 20
PER_USER_SHARE: Final = 0.5  # prefixes per session from which the prefix is said to differ per user
DROP: Final = 0.1  # a fall in cached share after a version change that is flagged


def _share(part: int, whole: int) -> float | None:
    return None if whole == 0 else part / whole


def _cents(tokens: int, price: float) -> float:
    return tokens * price / 10_000  # prices are dollars per million tokens


def _read_saving(price: Price) -> float:
    """What a token read from the cache saves against the same token sent fresh."""
    return price.input - (price.input if price.cached_input is None else price.cached_input)


def _write_premium(price: Price, hour: bool) -> float:
    """What a token written costs more than the same token read."""
    write = price.cache_write_1h if hour else price.cache_write
    read = price.input if price.cached_input is None else price.cached_input
    return (price.input if write is None else write) - read


@dataclass(frozen=True, slots=True)
class SessionHealth:
    session_id: str
    turns: int
    cold_turns: int
    tokens_in: int
    tokens_cached_in: int
    cached_share_per_turn: list[float | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "turns": self.turns,
            "cold_turns": self.cold_turns,
            "cached_share": _share(self.tokens_cached_in, self.tokens_in),
            "cached_share_per_turn": self.cached_share_per_turn,
        }


@dataclass(frozen=True, slots=True)
class PrefixUse:
    fingerprint: str
    model: str | None
    requests: int
    sessions: int
    prefix_tokens: int
    tokens_in: int
    tokens_cached_in: int

    def to_json(self, prefixed_requests: int) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "model": self.model,
            "requests": self.requests,
            "share_of_traffic": _share(self.requests, prefixed_requests),
            "sessions": self.sessions,
            "prefix_tokens": self.prefix_tokens,
            "cached_share": _share(self.tokens_cached_in, self.tokens_in),
        }


@dataclass(frozen=True, slots=True)
class Stampede:
    fingerprint: str
    model: str | None
    started: datetime
    ended: datetime
    requests: int
    extra_cents: float

    def to_json(self) -> dict[str, Any]:
        return {
            "fingerprint": self.fingerprint,
            "model": self.model,
            "started": self.started.isoformat(),
            "duration_ms": round((self.ended - self.started).total_seconds() * 1000),
            "requests": self.requests,
            "extra_writes": self.requests - 1,
            "extra_cents": self.extra_cents,
        }


@dataclass(frozen=True, slots=True)
class VersionChange:
    model: str | None
    previous: str
    version: str
    changed_at: datetime
    share_before: float | None
    share_after: float | None

    @property
    def dropped(self) -> bool:
        before, after = self.share_before, self.share_after
        return before is not None and after is not None and after <= before - DROP

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "from": self.previous,
            "to": self.version,
            "changed_at": self.changed_at.isoformat(),
            "cached_share_before": self.share_before,
            "cached_share_after": self.share_after,
            "dropped": self.dropped,
        }


@dataclass(frozen=True, slots=True)
class ProviderCacheReport:
    requests: int
    tokens_in: int
    tokens_cached_in: int
    tokens_cache_write_5m: int
    tokens_cache_write_1h: int
    sessions: int
    long_sessions: int
    long_tokens_in: int
    long_tokens_cached_in: int
    cold_turns: int
    long_cold_turns: int
    worst_sessions: list[SessionHealth]
    prefixed_requests: int
    prefixed_sessions: int
    distinct_prefixes: int
    busiest_prefixes: list[PrefixUse]
    per_user_lost_cents: float
    stampedes: list[Stampede]
    changes: list[VersionChange]
    divergences: list[Divergence]
    warmups: list[Warmup]

    @property
    def per_user(self) -> bool:
        """Most sessions bring a prefix of their own: a personalised system prompt, say."""
        return self.distinct_prefixes >= 3 and self.distinct_prefixes >= PER_USER_SHARE * max(
            self.prefixed_sessions, 1
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "tokens_in": self.tokens_in,
            "tokens_cached_in": self.tokens_cached_in,
            "tokens_cache_write_5m": self.tokens_cache_write_5m,
            "tokens_cache_write_1h": self.tokens_cache_write_1h,
            "cached_share": _share(self.tokens_cached_in, self.tokens_in),
            "sessions": {
                "count": self.sessions,
                "cold_turns": self.cold_turns,
                "long_sessions": self.long_sessions,
                "long_session_turns_from": LONG_SESSION_TURNS,
                "long_session_cached_share": _share(self.long_tokens_cached_in, self.long_tokens_in),
                "long_session_cold_turns": self.long_cold_turns,
                "worst": [session.to_json() for session in self.worst_sessions],
            },
            "prefixes": {
                "requests": self.prefixed_requests,
                "distinct": self.distinct_prefixes,
                "per_user": self.per_user,
                "per_user_lost_cents": self.per_user_lost_cents if self.per_user else 0.0,
                "busiest": [prefix.to_json(self.prefixed_requests) for prefix in self.busiest_prefixes],
                "diverge": [divergence.to_json() for divergence in self.divergences],
            },
            "stampedes": {
                "count": len(self.stampedes),
                "requests": sum(stampede.requests for stampede in self.stampedes),
                "extra_cents": sum(stampede.extra_cents for stampede in self.stampedes),
                "worst": [stampede.to_json() for stampede in self.stampedes[:WORST]],
            },
            "changes": [change.to_json() for change in self.changes],
            "warmups": [warmup.to_json() for warmup in self.warmups],
        }


async def provider_cache(
    pool: Pool,
    scope: Scope,
    window: Window,
    prices: Mapping[str, Price],
    survey: PrefixSurvey,
    warmup_grace_seconds: float,
    *,
    worst: int = WORST,
) -> ProviderCacheReport:
    projects = visible_projects(scope, window)
    args = (projects, window.since, window.until)
    totals = await pool.fetchrow(query("provider_cache_totals"), *args)
    assert totals is not None
    sessions = await pool.fetch(query("provider_cache_sessions"), *args, worst)
    prefixes = await pool.fetch(query("provider_cache_prefixes"), *args, worst)
    firsts = await pool.fetch(query("provider_cache_prefix_models"), *args)
    islands = await pool.fetch(query("provider_cache_stampedes"), *args)
    changes = await pool.fetch(query("provider_cache_changes"), *args, worst)
    first_session = sessions[0] if sessions else None
    first_prefix = prefixes[0] if prefixes else None
    return ProviderCacheReport(
        requests=totals["requests"],
        tokens_in=totals["tokens_in"],
        tokens_cached_in=totals["tokens_cached_in"],
        tokens_cache_write_5m=totals["tokens_cache_write_5m"],
        tokens_cache_write_1h=totals["tokens_cache_write_1h"],
        sessions=first_session["all_sessions"] if first_session else 0,
        long_sessions=first_session["long_sessions"] if first_session else 0,
        long_tokens_in=first_session["long_tokens_in"] if first_session else 0,
        long_tokens_cached_in=first_session["long_tokens_cached_in"] if first_session else 0,
        cold_turns=first_session["all_cold_turns"] if first_session else 0,
        long_cold_turns=first_session["long_cold_turns"] if first_session else 0,
        worst_sessions=[_session(record) for record in sessions],
        prefixed_requests=first_prefix["prefixed_requests"] if first_prefix else 0,
        prefixed_sessions=first_prefix["prefixed_sessions"] if first_prefix else 0,
        distinct_prefixes=first_prefix["distinct_prefixes"] if first_prefix else 0,
        busiest_prefixes=[_prefix(record) for record in prefixes],
        per_user_lost_cents=_cold_prefix_cents(firsts, prices),
        stampedes=[_stampede(record, prices) for record in islands],
        changes=[
            VersionChange(
                model=record["model"],
                previous=record["previous"],
                version=record["model_version"],
                changed_at=record["changed_at"],
                share_before=_share(record["before_cached"], record["before_in"]),
                share_after=_share(record["after_cached"], record["after_in"]),
            )
            for record in changes
        ],
        divergences=await survey.divergences(projects),
        warmups=await warmups.listed(pool, projects, warmup_grace_seconds),
    )


def _session(record: Mapping[str, Any]) -> SessionHealth:
    return SessionHealth(
        session_id=record["session_id"],
        turns=record["turns"],
        cold_turns=record["cold_turns"],
        tokens_in=record["tokens_in"],
        tokens_cached_in=record["tokens_cached_in"],
        cached_share_per_turn=[
            _share(cached, sent)
            for cached, sent in zip(record["cached_per_turn"], record["in_per_turn"], strict=True)
        ],
    )


def _prefix(record: Mapping[str, Any]) -> PrefixUse:
    return PrefixUse(
        fingerprint=record["prefix_fp"],
        model=record["model"],
        requests=record["requests"],
        sessions=record["sessions"],
        prefix_tokens=record["prefix_tokens"],
        tokens_in=record["tokens_in"],
        tokens_cached_in=record["tokens_cached_in"],
    )


def _cold_prefix_cents(firsts: Sequence[Mapping[str, Any]], prices: Mapping[str, Price]) -> float:
    """Every distinct prefix but one, sent cold once, against the same tokens read."""
    lost = 0.0
    distinct = sum(record["prefixes"] for record in firsts)
    for record in firsts:
        price = prices.get(record["model"] or "")
        if price is not None and distinct > 1:
            # The one prefix that would be shared is taken out in proportion, model by model.
            lost += _cents(record["tokens"], _read_saving(price)) * (distinct - 1) / distinct
    return lost


def _stampede(record: Mapping[str, Any], prices: Mapping[str, Price]) -> Stampede:
    price = prices.get(record["model"] or "")
    paid = 0.0
    if price is not None:
        paid = (
            _cents(record["tokens_cache_write_5m"], _write_premium(price, hour=False))
            + _cents(record["tokens_cache_write_1h"], _write_premium(price, hour=True))
            + _cents(record["unwritten_tokens"] or 0, _read_saving(price))
        )
    requests = record["requests"]
    return Stampede(
        fingerprint=record["prefix_fp"],
        model=record["model"],
        started=record["started"],
        ended=record["ended"],
        requests=requests,
        extra_cents=paid * (requests - 1) / requests,  # the first one's write had to be paid
    )
