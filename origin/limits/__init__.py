"""Budgets and rate limits shared by every origin instance through Redis; both fail closed."""

from origin.limits.budget import Budgets, BudgetScope, Reservation
from origin.limits.errors import BudgetExceeded, LimitsUnavailable
from origin.limits.ratelimit import RateDecision, RateLimiter

__all__ = [
    "BudgetExceeded",
    "BudgetScope",
    "Budgets",
    "LimitsUnavailable",
    "RateDecision",
    "RateLimiter",
    "Reservation",
]
