"""Budgets and rate limits shared by every origin instance through Redis; both fail closed."""

from origin.controls.limits.budget import Budgets, BudgetScope, Reservation
from origin.controls.limits.errors import BudgetExceeded, LimitsUnavailable
from origin.controls.limits.ratelimit import RateDecision, RateLimiter
from origin.controls.limits.tokens import TokenDecision, TokenLimiter

__all__ = [
    "BudgetExceeded",
    "BudgetScope",
    "Budgets",
    "LimitsUnavailable",
    "RateDecision",
    "RateLimiter",
    "Reservation",
    "TokenDecision",
    "TokenLimiter",
]
