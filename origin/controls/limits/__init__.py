"""Budgets and rate limits shared by every origin instance through Redis; both fail closed."""

from origin.controls.limits.budget import Budgets, BudgetScope, History, Reservation, SpendFilter
from origin.controls.limits.errors import BudgetExceeded, LimitsUnavailable
from origin.controls.limits.ratelimit import RateDecision, RateLimiter
from origin.controls.limits.tokens import TokenDecision, TokenLimiter

__all__ = [
    "BudgetExceeded",
    "BudgetScope",
    "Budgets",
    "History",
    "LimitsUnavailable",
    "RateDecision",
    "RateLimiter",
    "Reservation",
    "SpendFilter",
    "TokenDecision",
    "TokenLimiter",
]
