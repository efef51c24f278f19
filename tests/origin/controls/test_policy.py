"""Policy evaluation and the controls' value types: pure, table-driven."""

from decimal import Decimal

import pytest

from origin.controls.policy import (
    DEFAULT_CONTROLS,
    BudgetDef,
    Policy,
    PolicyRule,
    ProjectControls,
    ProjectSettings,
    rule_shape_error,
)

_next_id = iter(range(1, 1_000_000))


def org(effect: str, target: str, pattern: str | None = None, max_tokens: int | None = None) -> PolicyRule:
    return PolicyRule(next(_next_id), "org", "acme", effect, target, pattern, max_tokens)  # type: ignore[arg-type]


def project(
    effect: str, target: str, pattern: str | None = None, max_tokens: int | None = None
) -> PolicyRule:
    return PolicyRule(next(_next_id), "project", "acme/web", effect, target, pattern, max_tokens)  # type: ignore[arg-type]


OPENAI = "openai"
ANTHROPIC = "anthropic"

# (rules, model, provider, allowed)
DENIAL_CASES: list[tuple[str, tuple[PolicyRule, ...], str, str, bool]] = [
    ("no rules", (), "gpt-4o", OPENAI, True),
    ("deny glob matches", (project("deny", "model", "gpt-4*"),), "gpt-4o", OPENAI, False),
    ("deny glob exact name", (project("deny", "model", "gpt-4*"),), "gpt-4", OPENAI, False),
    ("deny glob misses", (project("deny", "model", "gpt-4*"),), "gpt-3.5-turbo", OPENAI, True),
    ("deny glob is not a prefix match", (project("deny", "model", "gpt-4"),), "gpt-4o", OPENAI, True),
    ("deny star denies all", (org("deny", "model", "*"),), "anything", OPENAI, False),
    ("deny is case-insensitive", (org("deny", "model", "GPT-4*"),), "gpt-4o", OPENAI, False),
    ("deny char class", (org("deny", "model", "gpt-[34]*"),), "gpt-3.5", OPENAI, False),
    ("deny question mark", (org("deny", "model", "o?-mini"),), "o1-mini", OPENAI, False),
    ("deny provider", (org("deny", "provider", "open*"),), "gpt-4o", OPENAI, False),
    ("deny provider misses", (org("deny", "provider", "open*"),), "claude-3", ANTHROPIC, True),
    ("allow list hit", (org("allow", "model", "claude-*"),), "claude-3-haiku", ANTHROPIC, True),
    ("allow list miss", (org("allow", "model", "claude-*"),), "gpt-4o", OPENAI, False),
    (
        "allow at either scope",
        (org("allow", "model", "claude-*"), project("allow", "model", "gpt-4*")),
        "gpt-4o",
        OPENAI,
        True,
    ),
    (
        "deny wins over allow",
        (org("allow", "model", "*"), project("deny", "model", "gpt-4*")),
        "gpt-4o",
        OPENAI,
        False,
    ),
    (
        "project deny narrows org allow",
        (org("allow", "model", "gpt-*"), project("deny", "model", "gpt-4o")),
        "gpt-4o-mini",
        OPENAI,
        True,
    ),
    (
        "model allow list ignores provider kind",
        (org("allow", "model", "gpt-*"),),
        "gpt-4o",
        ANTHROPIC,
        True,
    ),
    ("provider allow list miss", (org("allow", "provider", ANTHROPIC),), "gpt-4o", OPENAI, False),
    (
        "both allow kinds must match",
        (org("allow", "model", "gpt-*"), org("allow", "provider", ANTHROPIC)),
        "gpt-4o",
        OPENAI,
        False,
    ),
    (
        "limits do not deny models",
        (org("deny", "streaming"), org("limit", "max_tokens", max_tokens=10)),
        "gpt-4o",
        OPENAI,
        True,
    ),
]


@pytest.mark.parametrize(
    ("rules", "model", "provider", "allowed"),
    [case[1:] for case in DENIAL_CASES],
    ids=[case[0] for case in DENIAL_CASES],
)
def test_denial_for(rules: tuple[PolicyRule, ...], model: str, provider: str, allowed: bool) -> None:
    policy = Policy(rules)
    assert (policy.denial_for(model, provider) is None) is allowed
    assert policy.allows(model, provider) is allowed


def test_deny_message_names_the_rule() -> None:
    rule = PolicyRule(3, "project", "acme/web", "deny", "model", "gpt-4*")
    assert (
        Policy((rule,)).denial_for("gpt-4o", OPENAI) == "policy #3 (project acme/web) denies model 'gpt-4*'"
    )


def test_first_matching_deny_is_named() -> None:
    rules = (
        PolicyRule(7, "org", "acme", "deny", "provider", "openai"),
        PolicyRule(9, "project", "acme/web", "deny", "model", "*"),
    )
    assert Policy(rules).denial_for("gpt-4o", OPENAI) == "policy #7 (org acme) denies provider 'openai'"


def test_allow_miss_names_every_allow_rule_of_that_kind() -> None:
    rules = (
        PolicyRule(1, "org", "acme", "allow", "model", "claude-*"),
        PolicyRule(2, "project", "acme/web", "allow", "model", "llama-*"),
        PolicyRule(4, "org", "acme", "allow", "provider", "*"),
    )
    assert Policy(rules).denial_for("gpt-4o", OPENAI) == (
        "model 'gpt-4o' matches no allow rule: "
        "policy #1 (org acme) allows model 'claude-*'; policy #2 (project acme/web) allows model 'llama-*'"
    )


def test_provider_allow_miss_names_the_model_too() -> None:
    rules = (PolicyRule(5, "org", "acme", "allow", "provider", "anthropic"),)
    assert Policy(rules).denial_for("gpt-4o", OPENAI) == (
        "provider 'openai' (model 'gpt-4o') matches no allow rule: "
        "policy #5 (org acme) allows provider 'anthropic'"
    )


# (rules, max_tokens, stream, violation message or None)
REQUEST_CASES: list[tuple[str, tuple[PolicyRule, ...], int | None, bool, str | None]] = [
    ("no rules", (), 100_000, True, None),
    (
        "under the limit",
        (PolicyRule(1, "org", "acme", "limit", "max_tokens", max_tokens=1000),),
        1000,
        False,
        None,
    ),
    (
        "over the limit",
        (PolicyRule(1, "org", "acme", "limit", "max_tokens", max_tokens=1000),),
        1001,
        False,
        "max_tokens 1001 is over the limit: policy #1 (org acme) limits max_tokens to 1000",
    ),
    (
        "strictest limit wins",
        (
            PolicyRule(1, "org", "acme", "limit", "max_tokens", max_tokens=500),
            PolicyRule(2, "project", "acme/web", "limit", "max_tokens", max_tokens=2000),
        ),
        600,
        False,
        "max_tokens 600 is over the limit: policy #1 (org acme) limits max_tokens to 500",
    ),
    (
        "no max_tokens passes",
        (PolicyRule(1, "org", "acme", "limit", "max_tokens", max_tokens=5),),
        None,
        False,
        None,
    ),
    (
        "streaming denied",
        (PolicyRule(4, "project", "acme/web", "deny", "streaming"),),
        None,
        True,
        "policy #4 (project acme/web) denies streaming",
    ),
    (
        "non-streaming passes a streaming deny",
        (PolicyRule(4, "org", "acme", "deny", "streaming"),),
        10,
        False,
        None,
    ),
    (
        "model rules do not limit requests",
        (PolicyRule(4, "org", "acme", "deny", "model", "*"),),
        10,
        True,
        None,
    ),
]


@pytest.mark.parametrize(
    ("rules", "max_tokens", "stream", "expected"),
    [case[1:] for case in REQUEST_CASES],
    ids=[case[0] for case in REQUEST_CASES],
)
def test_check_request(
    rules: tuple[PolicyRule, ...], max_tokens: int | None, stream: bool, expected: str | None
) -> None:
    assert Policy(rules).check_request(max_tokens, stream) == expected


def test_limits_summary() -> None:
    assert Policy().max_tokens_limit is None and Policy().allow_streaming
    policy = Policy(
        (
            PolicyRule(1, "project", "acme/web", "limit", "max_tokens", max_tokens=800),
            PolicyRule(2, "org", "acme", "limit", "max_tokens", max_tokens=300),
            PolicyRule(3, "org", "acme", "deny", "streaming"),
        )
    )
    assert policy.max_tokens_limit == 300 and not policy.allow_streaming


@pytest.mark.parametrize(
    ("effect", "target", "pattern", "max_tokens", "valid"),
    [
        ("deny", "model", "gpt-*", None, True),
        ("allow", "provider", "*", None, True),
        ("deny", "streaming", None, None, True),
        ("limit", "max_tokens", None, 1, True),
        ("deny", "model", None, None, False),
        ("deny", "model", "", None, False),
        ("allow", "model", "x", 5, False),
        ("allow", "streaming", None, None, False),
        ("deny", "streaming", "*", None, False),
        ("limit", "max_tokens", None, 0, False),
        ("limit", "max_tokens", None, None, False),
        ("limit", "model", "x", None, False),
        ("deny", "max_tokens", None, 5, False),
    ],
)
def test_rule_shapes(
    effect: str, target: str, pattern: str | None, max_tokens: int | None, valid: bool
) -> None:
    assert (rule_shape_error(effect, target, pattern, max_tokens) is None) is valid
    if not valid:
        with pytest.raises(ValueError):
            PolicyRule(1, "org", "acme", effect, target, pattern, max_tokens)  # type: ignore[arg-type]


def test_project_settings_defaults_and_validation() -> None:
    defaults = ProjectSettings()
    assert (
        defaults.cache_ttl_seconds,
        defaults.semantic_cache,
        defaults.semantic_threshold,
        defaults.rpm_limit,
        defaults.memory_token_budget,
        defaults.edge_cache,
    ) == (3600, False, 0.92, None, 2000, "global")
    for bad in (
        {"cache_ttl_seconds": -1},
        {"semantic_threshold": 0.0},
        {"semantic_threshold": 1.5},
        {"rpm_limit": 0},
        {"memory_token_budget": -5},
        {"edge_cache": "regional"},
    ):
        with pytest.raises(ValueError):
            ProjectSettings(**bad)
    assert ProjectSettings(rpm_limit=60, semantic_threshold=1.0).rpm_limit == 60


def test_budgets() -> None:
    project_budget = BudgetDef(Decimal(5000))
    onboarding = BudgetDef(Decimal("1250.5"), "feature", "onboarding")
    assert project_budget.tag is None and onboarding.tag == "feature=onboarding"
    controls = ProjectControls(budgets=(project_budget, onboarding))
    assert controls.budgets_for(None) == (project_budget,)
    assert controls.budgets_for({"feature": "search"}) == (project_budget,)
    assert controls.budgets_for({"feature": "onboarding", "team": "x"}) == (project_budget, onboarding)
    for args in ((Decimal(-1),), (Decimal("NaN"),), (Decimal(1), "feature", None)):
        with pytest.raises(ValueError):
            BudgetDef(*args)


def test_default_controls_are_permissive() -> None:
    assert ProjectControls() == DEFAULT_CONTROLS
    assert DEFAULT_CONTROLS.policies.denial_for("any", "thing") is None
    assert DEFAULT_CONTROLS.settings == ProjectSettings() and DEFAULT_CONTROLS.budgets == ()
