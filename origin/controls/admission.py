"""What a request must pass before it may spend money: rate limit, policy, budget reservation."""

from collections.abc import Callable, Mapping
from typing import Any, Final

from origin.chat.ledger import Ledger
from origin.chat.tokens import estimate_prompt_tokens
from origin.controls.limits import BudgetExceeded, Budgets, BudgetScope, LimitsUnavailable, RateLimiter
from origin.controls.policy import ProjectControls
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


def worst_case_cents(body: Mapping[str, Any], candidates: tuple[ModelConfig, ...]) -> float:
    """The most any candidate could charge: the input estimate plus the output cap at its prices."""
    prompt = estimate_prompt_tokens(body["messages"], body.get("tools"))
    output = (output_cap(body) or DEFAULT_OUTPUT_CAP) * int(body.get("n") or 1)
    usage = Usage(tokens_in=prompt, tokens_out=output)
    return max((usage.cost_cents(model.price) for model in candidates), default=0.0)


def budget_scopes(
    key: KeyRecord, controls: ProjectControls, tags: Mapping[str, str] | None
) -> list[BudgetScope]:
    project = f"project {key.org_name}/{key.project_name}"
    scopes = []
    for budget in controls.budgets_for(tags):
        if budget.tag is None:
            scopes.append(BudgetScope(f"project:{key.project_id}", float(budget.monthly_cents), project))
        else:
            label = f"tag {budget.tag} in {project}"
            scopes.append(
                BudgetScope(f"project:{key.project_id}:tag:{budget.tag}", float(budget.monthly_cents), label)
            )
    return scopes


class Admission:
    def __init__(self, budgets: Budgets, limiter: RateLimiter) -> None:
        self._budgets = budgets
        self._limiter = limiter

    async def rate_limit(self, key: KeyRecord, controls: ProjectControls) -> None:
        limit = controls.settings.rpm_limit
        if limit is None:
            return
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
        await self.hold(ledger, controls, lambda: worst_case_cents(body, candidates))

    async def hold(self, ledger: Ledger, controls: ProjectControls, worst_cents: Callable[[], float]) -> None:
        """Hold ``worst_cents()`` (reckoned only when a budget applies) against every budget that
        applies; settle to the real cost once the row is settled."""
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
