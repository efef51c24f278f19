"""Per-org and per-project controls as plain values, and the policy rules' evaluation. No I/O.

A policy rule is one row of ``policies``: deny or allow a model or provider by glob pattern, deny
streaming, or limit ``max_tokens``. Org rules and project rules both apply:

- a deny rule that matches wins;
- when any allow rule exists for a target (model or provider), at any scope, the name must match at
  least one allow rule of that target;
- the strictest ``max_tokens`` limit applies; streaming is refused if either scope denies it.

Patterns are shell globs (``gpt-4*``, ``claude-*``, ``*``), matched case-insensitively.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from fnmatch import fnmatchcase
from typing import Literal, TypeAlias, get_args

from shared.keys import models_permit

Scope: TypeAlias = Literal["org", "project"]
Effect: TypeAlias = Literal["deny", "allow", "limit"]
Target: TypeAlias = Literal["model", "provider", "streaming", "max_tokens"]
EdgeCache: TypeAlias = Literal["global", "off"]
CacheScope: TypeAlias = Literal["project", "key", "user"]

EDGE_CACHE_MODES: tuple[EdgeCache, ...] = get_args(EdgeCache)
CACHE_SCOPES: tuple[CacheScope, ...] = get_args(CacheScope)


def rule_shape_error(effect: str, target: str, pattern: str | None, max_tokens: int | None) -> str | None:
    """Why this combination is not a rule, or None when it is one (mirrors the table's CHECK)."""
    if effect in ("deny", "allow") and target in ("model", "provider"):
        if not pattern or max_tokens is not None:
            return f"a {effect} rule for a {target} needs a pattern and nothing else"
        return None
    if effect == "deny" and target == "streaming":
        return None if pattern is None and max_tokens is None else "a streaming rule takes no value"
    if effect == "limit" and target == "max_tokens":
        if pattern is not None or max_tokens is None or max_tokens < 1:
            return "a max_tokens limit needs a positive number and nothing else"
        return None
    return f"no rule can {effect} {target}"


@dataclass(frozen=True, slots=True)
class PolicyRule:
    id: int
    scope: Scope
    scope_name: str  # "acme" for an org rule, "acme/web" for a project rule
    effect: Effect
    target: Target
    pattern: str | None = None
    max_tokens: int | None = None

    def __post_init__(self) -> None:
        error = rule_shape_error(self.effect, self.target, self.pattern, self.max_tokens)
        if error is not None:
            raise ValueError(error)

    @property
    def action(self) -> str:
        if self.target == "streaming":
            return "denies streaming"
        if self.target == "max_tokens":
            return f"limits max_tokens to {self.max_tokens}"
        verb = "denies" if self.effect == "deny" else "allows"
        return f"{verb} {self.target} {self.pattern!r}"

    def matches(self, name: str) -> bool:
        return self.pattern is not None and fnmatchcase(name.lower(), self.pattern.lower())

    def __str__(self) -> str:
        return f"policy #{self.id} ({self.scope} {self.scope_name}) {self.action}"


@dataclass(frozen=True, slots=True)
class Policy:
    """Every rule that applies to one project (its org's and its own), in id order."""

    rules: tuple[PolicyRule, ...] = ()
    key_models: tuple[str, ...] = ()  # the calling key's own model globs (none: any model)

    def denial_for(self, model_name: str, provider_name: str) -> str | None:
        """Why this model (served by this provider) is refused, naming the rule; None if allowed."""
        if not models_permit(self.key_models, model_name):
            return f"this key may use only models matching {', '.join(self.key_models)}, not {model_name!r}"
        names: dict[str, str] = {"model": model_name, "provider": provider_name}
        for rule in self.rules:
            if rule.effect == "deny" and rule.target in names and rule.matches(names[rule.target]):
                return str(rule)
        for target, name in names.items():
            allows = [rule for rule in self.rules if rule.effect == "allow" and rule.target == target]
            if allows and not any(rule.matches(name) for rule in allows):
                subject = (
                    f"model {name!r}" if target == "model" else f"provider {name!r} (model {model_name!r})"
                )
                return f"{subject} matches no allow rule: " + "; ".join(str(rule) for rule in allows)
        return None

    def allows(self, model_name: str, provider_name: str) -> bool:
        return self.denial_for(model_name, provider_name) is None

    @property
    def max_tokens_rule(self) -> PolicyRule | None:
        """The strictest ``max_tokens`` limit (the earliest rule on a tie)."""
        limits = [rule for rule in self.rules if rule.target == "max_tokens" and rule.max_tokens is not None]
        return min(limits, key=lambda rule: rule.max_tokens or 0, default=None)

    @property
    def max_tokens_limit(self) -> int | None:
        rule = self.max_tokens_rule
        return None if rule is None else rule.max_tokens

    @property
    def allow_streaming(self) -> bool:
        return self._streaming_denial() is None

    def check_request(self, max_tokens: int | None, stream: bool) -> str | None:
        """Why a request with these parameters breaks the limits, naming the rule; None if it does not.

        A request without ``max_tokens`` passes; callers that want the cap enforced upstream send
        ``max_tokens_limit`` in its place.
        """
        if stream:
            denial = self._streaming_denial()
            if denial is not None:
                return str(denial)
        limit = self.max_tokens_rule
        if max_tokens is not None and limit is not None and max_tokens > (limit.max_tokens or 0):
            return f"max_tokens {max_tokens} is over the limit: {limit}"
        return None

    def _streaming_denial(self) -> PolicyRule | None:
        return next((rule for rule in self.rules if rule.target == "streaming"), None)


@dataclass(frozen=True, slots=True)
class ProjectSettings:
    cache_ttl_seconds: int = 3600  # exact-cache TTL
    semantic_cache: bool = False
    semantic_threshold: float = 0.92
    rpm_limit: int | None = None  # requests per minute per key; None is unlimited
    memory_token_budget: int = 2000
    edge_cache: EdgeCache = "global"
    prompt_cache_key: bool = True  # send OpenAI a key per session (origin.chat.prompt_cache)
    cache_breakpoints: bool = True  # mark Anthropic's stable prefix (origin.providers.anthropic_cache)
    prefix_flight: bool = True  # a cold long prefix written once (origin.chat.prefix_flight)
    pii_guard: bool = False  # requests with personal data skip caches and memory (origin.controls.pii)
    cache_max_ttl_seconds: int | None = None  # retention: no X-Prism-Cache-TTL keeps an answer longer
    cache_scope: CacheScope = "project"  # who shares cached answers (origin.cache.scope)
    session_memory: bool = True  # history kept for X-Prism-Session (origin.cache.memory); off: edge hits too

    def __post_init__(self) -> None:
        problems = [
            "cache_ttl_seconds must be >= 0" if self.cache_ttl_seconds < 0 else "",
            "semantic_threshold must be in (0, 1]" if not 0 < self.semantic_threshold <= 1 else "",
            "rpm_limit must be >= 1 or None" if self.rpm_limit is not None and self.rpm_limit < 1 else "",
            "memory_token_budget must be >= 0" if self.memory_token_budget < 0 else "",
            f"edge_cache must be one of {EDGE_CACHE_MODES}"
            if self.edge_cache not in EDGE_CACHE_MODES
            else "",
            "cache_max_ttl_seconds must be >= 0 or None"
            if self.cache_max_ttl_seconds is not None and self.cache_max_ttl_seconds < 0
            else "",
            f"cache_scope must be one of {CACHE_SCOPES}" if self.cache_scope not in CACHE_SCOPES else "",
        ]
        problem = next((text for text in problems if text), None)
        if problem is not None:
            raise ValueError(problem)


@dataclass(frozen=True, slots=True)
class BudgetDef:
    """A monthly budget in cents: the whole project's, or the share of requests tagged ``key=value``."""

    monthly_cents: Decimal
    tag_key: str | None = None
    tag_value: str | None = None

    def __post_init__(self) -> None:
        if (self.tag_key is None) != (self.tag_value is None):
            raise ValueError("a budget tag needs both a key and a value")
        if not self.monthly_cents.is_finite() or self.monthly_cents < 0:
            raise ValueError("monthly_cents must be a finite number >= 0")

    @property
    def tag(self) -> str | None:
        return None if self.tag_key is None else f"{self.tag_key}={self.tag_value}"

    def applies_to(self, tags: Mapping[str, str] | None) -> bool:
        return self.tag_key is None or (tags is not None and tags.get(self.tag_key) == self.tag_value)


@dataclass(frozen=True, slots=True)
class ProjectControls:
    """Everything one project is governed by; the defaults are what a project with no rows gets."""

    policies: Policy = field(default_factory=Policy)
    settings: ProjectSettings = field(default_factory=ProjectSettings)
    budgets: tuple[BudgetDef, ...] = ()

    def for_key(self, models: tuple[str, ...]) -> "ProjectControls":
        """These controls as a key limited to ``models`` (globs) sees them."""
        return replace(self, policies=replace(self.policies, key_models=models)) if models else self

    def budgets_for(self, tags: Mapping[str, str] | None) -> tuple[BudgetDef, ...]:
        """The budgets a request with these tags counts against (the project's and its tags')."""
        return tuple(budget for budget in self.budgets if budget.applies_to(tags))


DEFAULT_CONTROLS = ProjectControls()
