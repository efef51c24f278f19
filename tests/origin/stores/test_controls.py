"""Policies, project settings and budgets round-trip through the real test database."""

import uuid
from decimal import Decimal

import asyncpg
import pytest

from origin.controls.policy import BudgetDef, Policy, ProjectControls, ProjectSettings
from origin.stores import controls, postgres
from origin.stores.controls import ProjectRef

PEPPER = "test-pepper-0123456789"


async def _project(pool: postgres.Pool, project: str | None = None, org: str | None = None) -> ProjectRef:
    """A fresh project (and org) per test, so tests never see each other's rows."""
    org = org or f"org-{uuid.uuid4().hex[:8]}"
    project = project or f"proj-{uuid.uuid4().hex[:8]}"
    await postgres.create_key(pool, project=project, org=org, pepper=PEPPER)
    ref = await controls.find_project(pool, org=org, project=project)
    assert ref is not None
    return ref


async def test_find_org_and_project_by_name(pool: postgres.Pool) -> None:
    ref = await _project(pool, project="web")
    assert ref.project_name == "web" and ref.label == f"{ref.org_name}/web"
    assert await controls.find_org(pool, ref.org_name) == ref.org_id
    assert await controls.find_org(pool, "no-such-org-" + uuid.uuid4().hex) is None
    assert await controls.find_project(pool, org=ref.org_name, project="nope") is None
    assert await controls.find_project(pool, org="nope-" + uuid.uuid4().hex, project="web") is None


async def test_policies_add_list_remove(pool: postgres.Pool) -> None:
    web = await _project(pool, project="web")
    api = await _project(pool, project="api", org=web.org_name)
    org_rule = await controls.add_policy(
        pool, org_id=web.org_id, project_id=None, effect="deny", target="model", pattern="gpt-4*"
    )
    web_rule = await controls.add_policy(
        pool,
        org_id=web.org_id,
        project_id=web.project_id,
        effect="limit",
        target="max_tokens",
        max_tokens=500,
    )
    api_rule = await controls.add_policy(
        pool, org_id=api.org_id, project_id=api.project_id, effect="deny", target="streaming"
    )
    assert org_rule < web_rule < api_rule

    for_web = await controls.list_policies(pool, org_id=web.org_id, project_id=web.project_id)
    assert [str(rule) for rule in for_web] == [
        f"policy #{org_rule} (org {web.org_name}) denies model 'gpt-4*'",
        f"policy #{web_rule} (project {web.label}) limits max_tokens to 500",
    ]
    for_org = await controls.list_policies(pool, org_id=web.org_id)
    assert [rule.id for rule in for_org] == [org_rule, web_rule, api_rule]
    everything = {rule.id for rule in await controls.list_policies(pool)}
    assert {org_rule, web_rule, api_rule} <= everything

    assert await controls.remove_policy(pool, web_rule)
    assert not await controls.remove_policy(pool, web_rule)
    assert [rule.id for rule in await controls.list_policies(pool, org_id=web.org_id)] == [org_rule, api_rule]


async def test_bad_rule_shapes_are_refused_before_and_by_the_database(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    with pytest.raises(ValueError):
        await controls.add_policy(pool, org_id=ref.org_id, project_id=None, effect="deny", target="model")
    for effect, target, pattern, max_tokens in (
        ("deny", "model", None, None),
        ("deny", "model", "", None),
        ("limit", "max_tokens", None, None),
        ("limit", "max_tokens", None, 0),
        ("allow", "streaming", None, None),
    ):
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(
                "INSERT INTO policies (scope, org_id, effect, target, pattern, max_tokens)"
                " VALUES ('org', $1, $2, $3, $4, $5)",
                ref.org_id,
                effect,
                target,
                pattern,
                max_tokens,
            )


async def test_a_project_rule_cannot_point_at_another_org(pool: postgres.Pool) -> None:
    mine = await _project(pool)
    theirs = await _project(pool)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await controls.add_policy(
            pool, org_id=mine.org_id, project_id=theirs.project_id, effect="deny", target="streaming"
        )


async def test_project_settings_default_update_and_set(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    assert await controls.get_project_settings(pool, ref.project_id) == ProjectSettings()

    updated = await controls.update_project_settings(
        pool, ref.project_id, {"rpm_limit": 60, "semantic_cache": True, "semantic_threshold": 0.85}
    )
    assert updated == ProjectSettings(rpm_limit=60, semantic_cache=True, semantic_threshold=0.85)
    again = await controls.update_project_settings(
        pool, ref.project_id, {"edge_cache": "off", "rpm_limit": None}
    )
    assert again == ProjectSettings(semantic_cache=True, semantic_threshold=0.85, edge_cache="off")
    assert await controls.get_project_settings(pool, ref.project_id) == again

    replaced = ProjectSettings(cache_ttl_seconds=0, memory_token_budget=0)
    await controls.set_project_settings(pool, ref.project_id, replaced)
    assert await controls.get_project_settings(pool, ref.project_id) == replaced

    with pytest.raises(ValueError):
        await controls.update_project_settings(pool, ref.project_id, {"rpm_limit": 0})
    with pytest.raises(TypeError):
        await controls.update_project_settings(pool, ref.project_id, {"no_such_setting": 1})
    assert await controls.get_project_settings(pool, ref.project_id) == replaced


async def test_table_defaults_match_project_settings_defaults(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    await pool.execute("INSERT INTO project_settings (project_id) VALUES ($1)", ref.project_id)
    assert await controls.get_project_settings(pool, ref.project_id) == ProjectSettings()


async def test_budgets_set_replace_list_remove(pool: postgres.Pool) -> None:
    ref = await _project(pool)
    await controls.set_budget(pool, ref.project_id, Decimal(5000))
    await controls.set_budget(pool, ref.project_id, Decimal(7000))
    await controls.set_budget(pool, ref.project_id, Decimal("1250.5"), tag=("feature", "onboarding"))
    await controls.set_budget(pool, ref.project_id, Decimal(300), tag=("feature", "search"))
    await controls.set_budget(pool, ref.project_id, Decimal(400), tag=("feature", "search"))

    listed = await controls.list_budgets(pool, project_id=ref.project_id)
    assert [(item.org_name, item.project_name) for item in listed] == [(ref.org_name, ref.project_name)] * 3
    assert [item.budget for item in listed] == [
        BudgetDef(Decimal(7000)),
        BudgetDef(Decimal("1250.5"), "feature", "onboarding"),
        BudgetDef(Decimal(400), "feature", "search"),
    ]
    assert len(await controls.list_budgets(pool)) >= 3

    assert await controls.remove_budget(pool, ref.project_id, tag=("feature", "search"))
    assert not await controls.remove_budget(pool, ref.project_id, tag=("feature", "search"))
    assert await controls.remove_budget(pool, ref.project_id)
    assert not await controls.remove_budget(pool, ref.project_id)
    remaining = await controls.list_budgets(pool, project_id=ref.project_id)
    assert [item.budget.tag for item in remaining] == ["feature=onboarding"]

    with pytest.raises(ValueError):
        await controls.set_budget(pool, ref.project_id, Decimal(-1))


async def test_load_controls_gathers_everything_for_one_project(pool: postgres.Pool) -> None:
    web = await _project(pool, project="web")
    other = await _project(pool, project="other", org=web.org_name)
    stranger = await _project(pool)
    assert await controls.load_controls(pool, web.org_id, web.project_id) == ProjectControls()

    org_rule = await controls.add_policy(
        pool, org_id=web.org_id, project_id=None, effect="allow", target="provider", pattern="*"
    )
    web_rule = await controls.add_policy(
        pool, org_id=web.org_id, project_id=web.project_id, effect="deny", target="model", pattern="gpt-4*"
    )
    await controls.add_policy(
        pool, org_id=other.org_id, project_id=other.project_id, effect="deny", target="streaming"
    )
    await controls.add_policy(
        pool, org_id=stranger.org_id, project_id=None, effect="deny", target="model", pattern="*"
    )
    await controls.update_project_settings(pool, web.project_id, {"rpm_limit": 10})
    await controls.set_budget(pool, web.project_id, Decimal("99.99"))
    await controls.set_budget(pool, web.project_id, Decimal(10), tag=("feature", "onboarding"))
    await controls.set_budget(pool, other.project_id, Decimal(1))

    loaded = await controls.load_controls(pool, web.org_id, web.project_id)
    assert [rule.id for rule in loaded.policies.rules] == [org_rule, web_rule]
    assert loaded.policies.rules[1].scope_name == web.label
    assert loaded.policies.denial_for("gpt-4o", "openai") == (
        f"policy #{web_rule} (project {web.label}) denies model 'gpt-4*'"
    )
    assert loaded.policies.allow_streaming
    assert loaded.settings == ProjectSettings(rpm_limit=10)
    assert loaded.budgets == (
        BudgetDef(Decimal("99.99")),
        BudgetDef(Decimal(10), "feature", "onboarding"),
    )

    unknown = str(uuid.uuid4())
    assert await controls.load_controls(pool, web.org_id, unknown) == ProjectControls(
        policies=Policy(loaded.policies.rules[:1])
    )
