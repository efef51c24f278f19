"""The controls generation: it moves when anything deciding a stored answer's fate moves, only then."""

from dataclasses import replace
from decimal import Decimal

import pytest

from origin.controls.generation import LENGTH, controls_generation
from origin.controls.policy import BudgetDef, Policy, PolicyRule, ProjectControls, ProjectSettings

DENY = PolicyRule(1, "project", "acme/web", "deny", "model", "gpt-4*")
LIMIT = PolicyRule(2, "org", "acme", "limit", "max_tokens", max_tokens=500)
BASE = ProjectControls(policies=Policy((DENY, LIMIT)), settings=ProjectSettings())
DIGEST = "c" * 64


def test_stable_for_the_same_inputs_and_short() -> None:
    generation = controls_generation(BASE, DIGEST)
    assert generation == controls_generation(replace(BASE), DIGEST)
    assert len(generation) == LENGTH and int(generation, 16) >= 0


@pytest.mark.parametrize(
    "changed",
    [
        replace(BASE, policies=Policy((DENY,))),  # a rule removed
        replace(BASE, policies=Policy((DENY, LIMIT, PolicyRule(3, "org", "acme", "deny", "streaming")))),
        replace(BASE, policies=Policy((replace(DENY, pattern="claude-*"), LIMIT))),
        replace(BASE, policies=Policy((DENY, replace(LIMIT, max_tokens=100)))),
        replace(BASE, policies=Policy((replace(DENY, effect="allow"), LIMIT))),
        replace(BASE, policies=Policy((replace(DENY, scope="org", scope_name="acme"), LIMIT))),
        replace(BASE, settings=ProjectSettings(edge_cache="off")),
        replace(BASE, settings=ProjectSettings(cache_ttl_seconds=60)),
        replace(BASE, settings=ProjectSettings(semantic_cache=True)),
        replace(BASE, settings=ProjectSettings(semantic_threshold=0.8)),
        replace(BASE, settings=ProjectSettings(rpm_limit=10)),
        replace(BASE, settings=ProjectSettings(memory_token_budget=10)),
    ],
)
def test_each_rule_and_setting_moves_it(changed: ProjectControls) -> None:
    assert controls_generation(changed, DIGEST) != controls_generation(BASE, DIGEST)


def test_the_gateway_config_moves_it() -> None:
    assert controls_generation(BASE, "d" * 64) != controls_generation(BASE, DIGEST)


def test_what_decides_nothing_about_a_stored_answer_leaves_it() -> None:
    generation = controls_generation(BASE, DIGEST)
    budgeted = replace(BASE, budgets=(BudgetDef(Decimal(100)),))
    assert controls_generation(budgeted, DIGEST) == generation  # a hit costs nothing
    renumbered = replace(BASE, policies=Policy((replace(LIMIT, id=7), replace(DENY, id=9))))
    assert controls_generation(renumbered, DIGEST) == generation  # the same rules, re-added
