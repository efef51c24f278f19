"""Postgres access for policies, project settings and budgets, through ``queries/controls.sql``."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from origin.controls.limits.budget import SpendFilter
from origin.controls.policy import (
    BudgetDef,
    Effect,
    Policy,
    PolicyRule,
    ProjectControls,
    ProjectSettings,
    Target,
    rule_shape_error,
)
from origin.stores.postgres import Pool
from origin.stores.sql import query

Tag = tuple[str, str]


@dataclass(frozen=True, slots=True)
class ProjectRef:
    project_id: str
    project_name: str
    org_id: str
    org_name: str

    @property
    def label(self) -> str:
        return f"{self.org_name}/{self.project_name}"


@dataclass(frozen=True, slots=True)
class PolicyOwner:
    """Where a rule applied: an org (``project_id`` None, every project of it) or one project."""

    org_id: str
    project_id: str | None


@dataclass(frozen=True, slots=True)
class BudgetListing:
    org_name: str
    project_name: str
    budget: BudgetDef


async def find_org(pool: Pool, name: str) -> str | None:
    """The org's id, or None when no org has this name."""
    org_id = await pool.fetchval(query("org_by_name"), name)
    return None if org_id is None else str(org_id)


async def find_project(pool: Pool, *, org: str, project: str) -> ProjectRef | None:
    row = await pool.fetchrow(query("project_by_name"), org, project)
    if row is None:
        return None
    return ProjectRef(
        project_id=str(row["project_id"]),
        project_name=row["project_name"],
        org_id=str(row["org_id"]),
        org_name=row["org_name"],
    )


@dataclass(frozen=True, slots=True)
class ProjectListing:
    org_name: str
    project_name: str | None  # None: an org with no project yet
    active_keys: int


async def create_project(pool: Pool, *, org: str, project: str) -> ProjectRef:
    """The project (and its org), created if it does not exist."""
    async with pool.acquire() as conn, conn.transaction():
        org_id = await conn.fetchval(query("upsert_org"), org)
        project_id = await conn.fetchval(query("upsert_project"), org_id, project)
    return ProjectRef(str(project_id), project, str(org_id), org)


async def create_org(pool: Pool, name: str) -> str:
    """The org's id, the org made if it does not exist."""
    return str(await pool.fetchval(query("upsert_org"), name))


async def list_projects(pool: Pool, *, org: str | None = None) -> list[ProjectListing]:
    rows = await pool.fetch(query("list_projects"), org)
    return [ProjectListing(row["org_name"], row["project_name"], row["active_keys"]) for row in rows]


async def add_policy(
    pool: Pool,
    *,
    org_id: str,
    project_id: str | None,
    effect: Effect,
    target: Target,
    pattern: str | None = None,
    max_tokens: int | None = None,
) -> int:
    """Add one rule to an org (``project_id=None``) or to a project of that org; return its id."""
    error = rule_shape_error(effect, target, pattern, max_tokens)
    if error is not None:
        raise ValueError(error)
    policy_id = await pool.fetchval(
        query("insert_policy"), org_id, project_id, effect, target, pattern, max_tokens
    )
    return int(policy_id)


async def list_policies(
    pool: Pool, *, org_id: str | None = None, project_id: str | None = None
) -> list[PolicyRule]:
    """Every rule; with ``org_id`` that org's; with ``project_id`` too, the rules that apply to it."""
    rows = await pool.fetch(query("list_policies"), org_id, project_id)
    return [_rule(row) for row in rows]


async def remove_policy(pool: Pool, policy_id: int) -> PolicyOwner | None:
    """Remove one rule; whom it applied to, or None when there was no such rule."""
    row = await pool.fetchrow(query("delete_policy"), policy_id)
    if row is None:
        return None
    project_id = row["project_id"]
    return PolicyOwner(str(row["org_id"]), None if project_id is None else str(project_id))


async def projects_of_org(pool: Pool, org_id: str) -> list[str]:
    return [str(row["id"]) for row in await pool.fetch(query("projects_of_org"), org_id)]


async def edge_cached_projects(pool: Pool) -> list[tuple[str, str]]:
    """``(org_id, project_id)`` of every project with active keys and ``edge_cache = global``."""
    rows = await pool.fetch(query("edge_cached_projects"))
    return [(str(row["org_id"]), str(row["project_id"])) for row in rows]


async def get_project_settings(pool: Pool, project_id: str) -> ProjectSettings:
    row = await pool.fetchrow(query("project_settings"), project_id)
    return ProjectSettings() if row is None else _settings(row)


async def set_project_settings(pool: Pool, project_id: str, settings: ProjectSettings) -> None:
    await pool.execute(query("upsert_project_settings"), project_id, *_settings_args(settings))


async def update_project_settings(pool: Pool, project_id: str, changes: Mapping[str, Any]) -> ProjectSettings:
    """Change some settings (names as in ``ProjectSettings``), atomically; return the result."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(query("ensure_project_settings"), project_id)
        current = _settings(await conn.fetchrow(query("project_settings_for_update"), project_id))
        updated = replace(current, **changes)
        await conn.execute(query("upsert_project_settings"), project_id, *_settings_args(updated))
    return updated


async def set_budget(pool: Pool, project_id: str, monthly_cents: Decimal, *, tag: Tag | None = None) -> None:
    """Create or replace the project's monthly budget, or the one for requests tagged ``tag``."""
    key, value = tag or (None, None)
    budget = BudgetDef(monthly_cents, key, value)
    if tag is None:
        await pool.execute(query("upsert_project_budget"), project_id, budget.monthly_cents)
    else:
        await pool.execute(query("upsert_tag_budget"), project_id, *tag, budget.monthly_cents)


async def remove_budget(pool: Pool, project_id: str, *, tag: Tag | None = None) -> bool:
    key, value = tag or (None, None)
    return await pool.fetchval(query("delete_budget"), project_id, key, value) is not None


async def list_budgets(pool: Pool, *, project_id: str | None = None) -> list[BudgetListing]:
    rows = await pool.fetch(query("list_budgets"), project_id)
    return [
        BudgetListing(
            org_name=row["org_name"],
            project_name=row["project_name"],
            budget=BudgetDef(row["monthly_cents"], row["tag_key"], row["tag_value"]),
        )
        for row in rows
    ]


async def load_controls(pool: Pool, org_id: str, project_id: str) -> ProjectControls:
    """Everything one project is governed by, in one query; defaults where nothing is stored."""
    row = await pool.fetchrow(query("load_controls"), org_id, project_id)
    rules = tuple(_rule(item) for item in json.loads(row["policies"]))
    budgets = tuple(
        BudgetDef(Decimal(item["monthly_cents"]), item["tag_key"], item["tag_value"])
        for item in json.loads(row["budgets"])
    )
    settings = _settings(row) if row["has_settings"] else ProjectSettings()
    return ProjectControls(policies=Policy(rules), settings=settings, budgets=budgets)


def _rule(row: Mapping[str, Any]) -> PolicyRule:
    scope_name = (
        row["org_name"] if row["project_name"] is None else f"{row['org_name']}/{row['project_name']}"
    )
    return PolicyRule(
        id=int(row["id"]),
        scope=row["scope"],
        scope_name=scope_name,
        effect=row["effect"],
        target=row["target"],
        pattern=row["pattern"],
        max_tokens=row["max_tokens"],
    )


def _settings(row: Mapping[str, Any]) -> ProjectSettings:
    return ProjectSettings(
        cache_ttl_seconds=row["cache_ttl_seconds"],
        semantic_cache=row["semantic_cache"],
        semantic_threshold=row["semantic_threshold"],
        rpm_limit=row["rpm_limit"],
        memory_token_budget=row["memory_token_budget"],
        edge_cache=row["edge_cache"],
        prompt_cache_key=row["prompt_cache_key"],
        cache_breakpoints=row["cache_breakpoints"],
        prefix_flight=row["prefix_flight"],
        pii_guard=row["pii_guard"],
        cache_max_ttl_seconds=row["cache_max_ttl_seconds"],
        cache_scope=row["cache_scope"],
        session_memory=row["session_memory"],
    )


def _settings_args(settings: ProjectSettings) -> tuple[object, ...]:
    return (
        settings.cache_ttl_seconds,
        settings.semantic_cache,
        settings.semantic_threshold,
        settings.rpm_limit,
        settings.memory_token_budget,
        settings.edge_cache,
        settings.prompt_cache_key,
        settings.cache_breakpoints,
        settings.prefix_flight,
        settings.pii_guard,
        settings.cache_max_ttl_seconds,
        settings.cache_scope,
        settings.session_memory,
    )


async def month_spend(pool: Pool, rows: SpendFilter, period: str) -> float:
    """Cents the usage log holds for a budget's rows in ``period`` (UTC ``YYYY-MM``)."""
    if rows.project_id is None:
        return 0.0
    start = datetime.strptime(period, "%Y-%m").replace(tzinfo=UTC)
    end = (start + timedelta(days=32)).replace(day=1)
    key, value = rows.tag or (None, None)
    spent = await pool.fetchval(query("month_spend"), start, end, rows.project_id, rows.key_id, key, value)
    return float(spent)
