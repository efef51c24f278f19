"""What a request must pass before it may spend money: rate limits, policy, budget reservation.

A key's own limits count with its project's: the lower requests-per-minute limit applies, its
tokens-per-minute limit holds the request's input estimate, and its monthly budget is one more
scope of the same atomic reservation as the project's and the tags' (the tightest refuses).
"""

from collections.abc import Callable, Mapping
from typing import Any, Final

from origin.chat.ledger import Ledger
from origin.chat.tokens import estimate_prompt_tokens
from origin.controls.limits import (
    BudgetExceeded,
    Budgets,
    BudgetScope,
    LimitsUnavailable,
    RateLimiter,
    SpendFilter,
    TokenLimiter,
)
from origin.controls.policy import ProjectControls
from origin.controls.worst_case import worst_input_tokens
from origin.http.errors import ApiError
from origin.providers.base import ModelConfig, Usage
from origin.stores.postgres import KeyRecord
from shared.usage import UsageRow

# Worst case for a request that sets no max_tokens: what it may cost is bounded by this many tokens.
DEFAULT_OUTPUT_CAP: Final = 4096


def _unavailable(error: LimitsUnavailable) -> ApiError:
    return ApiError(503, str(error), code="limits_unavailable")


def policy_denied(message: str) -> ApiError:
    return ApiError(403, f"Denied by policy: {message}", code="policy_denied")


def output_cap(body: Mapping[str, Any]) -> int | None:
    value = body.get("max_completion_tokens") or body.get("max_tokens")
    return int(value) if value else None


def prompt_tokens(body: Mapping[str, Any]) -> int:
    return estimate_prompt_tokens(body["messages"], body.get("tools"))


def worst_case_cents(body: Mapping[str, Any], candidates: tuple[ModelConfig, ...]) -> float:
    """The most any candidate could charge: the input's upper bound plus the output cap at its prices."""
    prompt = worst_input_tokens(body)
    output = (output_cap(body) or DEFAULT_OUTPUT_CAP) * int(body.get("n") or 1)
    usage = Usage(tokens_in=prompt, tokens_out=output)
    return max((usage.cost_cents(model.price) for model in candidates), default=0.0)


def key_scope(key: KeyRecord) -> BudgetScope | None:
    if key.budget_cents is None:
        return None
    rows = SpendFilter(project_id=key.project_id, key_id=key.key_id)
    return BudgetScope(f"key:{key.key_id}", float(key.budget_cents), f"key {key.prefix}…", rows)


def budget_scopes(
    key: KeyRecord, controls: ProjectControls, tags: Mapping[str, str] | None
) -> list[BudgetScope]:
    project = f"project {key.org_name}/{key.project_name}"
    own = key_scope(key)
    scopes = [] if own is None else [own]
    for budget in controls.budgets_for(tags):
        if budget.tag is None:
            rows = SpendFilter(project_id=key.project_id)
            scopes.append(
                BudgetScope(f"project:{key.project_id}", float(budget.monthly_cents), project, rows)
            )
        else:
            label = f"tag {budget.tag} in {project}"
            rows = SpendFilter(project_id=key.project_id, tag=(budget.tag_key or "", budget.tag_value or ""))
            scope_key = f"project:{key.project_id}:tag:{budget.tag}"
            scopes.append(BudgetScope(scope_key, float(budget.monthly_cents), label, rows))
    return scopes


class Admission:
    def __init__(self, budgets: Budgets, limiter: RateLimiter, tokens: TokenLimiter) -> None:
        self._budgets = budgets
        self._limiter = limiter
        self._tokens = tokens

    async def rate_limit(self, key: KeyRecord, controls: ProjectControls) -> None:
        limits = [limit for limit in (controls.settings.rpm_limit, key.rpm) if limit is not None]
        if not limits:
            return
        limit = min(limits)
        try:
            decision = await self._limiter.hit(key.key_id, limit)
        except LimitsUnavailable as error:
            raise _unavailable(error) from None
        if not decision.allowed:
            raise ApiError(
                429,
                f"Rate limit of {limit} requests per minute reached for this key; "
                f"retry in {decision.retry_after}s.",
                code="rate_limited",
                headers={"Retry-After": str(decision.retry_after)},
            )

    async def reserve(
        self,
        ledger: Ledger,
        controls: ProjectControls,
        body: Mapping[str, Any],
        candidates: tuple[ModelConfig, ...],
    ) -> None:
        """Hold the worst case against every budget that applies; settle to the real cost afterwards."""
        await self.hold(
            ledger, controls, lambda: worst_case_cents(body, candidates), lambda: prompt_tokens(body)
        )

    async def hold(
        self,
        ledger: Ledger,
        controls: ProjectControls,
        worst_cents: Callable[[], float],
        tokens: Callable[[], int],
    ) -> None:
        """Hold ``tokens()`` against the key's tokens-per-minute limit and ``worst_cents()`` against
        every budget that applies (each reckoned only when a limit applies); both settle to what the
        request really used once the row is settled."""
        await self._hold_tokens(ledger, tokens)
        scopes = budget_scopes(ledger.key, controls, ledger.row.request_tags)
        if not scopes:
            return
        try:
            reservation = await self._budgets.reserve(scopes, worst_cents())
        except LimitsUnavailable as error:
            raise _unavailable(error) from None
        except BudgetExceeded as error:
            raise ApiError(429, str(error), code="budget_exceeded") from None

        async def settle(row: UsageRow) -> None:
            await self._budgets.settle(reservation, row.cost_provider_cents)

        ledger.after(settle)

    async def budget_left(self, key: KeyRecord) -> float | None:
        """Cents the key's own budget has left this month (settled and held spend counted), or
        ``None`` when it has none."""
        scope = key_scope(key)
        if scope is None:
            return None
        try:
            spent, held = await self._budgets.spent(scope), await self._budgets.reserved(scope)
        except LimitsUnavailable as error:
            raise _unavailable(error) from None
        return max(0.0, scope.limit_cents - spent - held)

    async def _hold_tokens(self, ledger: Ledger, tokens: Callable[[], int]) -> None:
        key = ledger.key
        if key.tpm is None:
            return
        estimate = tokens()
        try:
            decision = await self._tokens.admit(key.key_id, estimate, key.tpm)
        except LimitsUnavailable as error:
            raise _unavailable(error) from None
        if decision.retry_after is None:
            raise ApiError(
                429,
                f"This request's ~{estimate} input tokens are over this key's limit of {key.tpm} "
                "tokens per minute: it can never pass; send less.",
                code="tokens_per_minute_exceeded",
            )
        if not decision.allowed:
            raise ApiError(
                429,
                f"Token limit of {key.tpm} tokens per minute reached for this key; "
                f"retry in {decision.retry_after}s.",
                code="tokens_per_minute_exceeded",
                headers={"Retry-After": str(decision.retry_after)},
            )

        async def settle(row: UsageRow) -> None:
            await self._tokens.settle(key.key_id, decision.hold, row.tokens_in + row.tokens_out)

        ledger.after(settle)
