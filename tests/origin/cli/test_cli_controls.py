"""``prism policy | project | budget``, run as real processes against the test database."""

import asyncio
import os
import subprocess
import sys
import uuid

import pytest

from origin.cli import build_parser
from origin.settings import Settings
from origin.stores import controls, postgres

pytestmark = pytest.mark.usefixtures("migrated")


def _prism(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PRISM_DATABASE_URL": settings.database_url,
        "PRISM_REDIS_URL": settings.redis_url,
        "PRISM_KEY_PEPPER": settings.key_pepper,
        "PRISM_INGEST_SECRET": settings.ingest_secret,
        "PRISM_DASHBOARD_SECRET": settings.dashboard_secret,
    }
    return subprocess.run(
        [sys.executable, "-m", "origin.cli", *args], env=env, capture_output=True, text=True, timeout=60
    )


def _ok(settings: Settings, *args: str) -> str:
    result = _prism(settings, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def _fails(settings: Settings, *args: str, code: int = 1) -> str:
    result = _prism(settings, *args)
    assert result.returncode == code, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    return result.stderr


def _usage_error(*args: str) -> None:
    """Bad input is refused by the parser (exit 2 with usage), before anything is opened."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(args)
    assert exited.value.code == 2, args


@pytest.fixture
def org(base_settings: Settings) -> str:
    """A fresh org with the projects ``web`` and ``api``."""
    name = f"cli-{uuid.uuid4().hex[:8]}"
    for project in ("web", "api"):
        _ok(base_settings, "keys", "create", "--project", project, "--org", name)
    return name


def test_policy_add_list_remove(base_settings: Settings, org: str) -> None:
    s = base_settings
    deny = int(_ok(s, "policy", "add", "--project", "web", "--org", org, "--deny-model", "gpt-4*"))
    allow = int(_ok(s, "policy", "add", "--org", org, "--allow-provider", "*"))
    limit = int(_ok(s, "policy", "add", "--project", "web", "--org", org, "--max-tokens", "1000"))
    no_stream = int(_ok(s, "policy", "add", "--project", "api", "--org", org, "--no-streaming"))
    deny_provider = int(_ok(s, "policy", "add", "--org", org, "--deny-provider", "open*"))
    allow_model = int(_ok(s, "policy", "add", "--org", org, "--allow-model", "claude-*"))

    for_web = _ok(s, "policy", "list", "--org", org, "--project", "web").splitlines()
    assert for_web == [
        f"{deny}\tproject {org}/web\tdenies model 'gpt-4*'",
        f"{allow}\torg {org}\tallows provider '*'",
        f"{limit}\tproject {org}/web\tlimits max_tokens to 1000",
        f"{deny_provider}\torg {org}\tdenies provider 'open*'",
        f"{allow_model}\torg {org}\tallows model 'claude-*'",
    ]
    whole_org = _ok(s, "policy", "list", "--org", org)
    assert f"{no_stream}\tproject {org}/api\tdenies streaming" in whole_org.splitlines()
    assert len(whole_org.splitlines()) == 6
    assert f"{no_stream}\tproject {org}/api" in _ok(s, "policy", "list")

    assert f"removed policy #{deny}" in _ok(s, "policy", "remove", str(deny))
    assert _fails(s, "policy", "remove", str(deny)).strip() == f"prism: no policy #{deny}"
    assert str(deny) not in _ok(s, "policy", "list", "--org", org).split()


def test_policy_add_reports_the_rule_and_the_delay(base_settings: Settings, org: str) -> None:
    result = _prism(base_settings, "policy", "add", "--org", org, "--deny-model", "o1*")
    assert result.returncode == 0, result.stderr
    policy_id = int(result.stdout)
    assert f"added policy #{policy_id} (org {org}) denies model 'o1*'" in result.stderr
    assert "5 s" in result.stderr


def test_policy_errors_are_one_line(base_settings: Settings, org: str) -> None:
    s = base_settings
    assert _fails(s, "policy", "add", "--org", "nope-" + org, "--no-streaming").strip() == (
        f"prism: no org named 'nope-{org}'"
    )
    assert _fails(s, "policy", "add", "--project", "nope", "--org", org, "--no-streaming").strip() == (
        f"prism: no project 'nope' in org '{org}'"
    )
    assert "needs --org NAME or --project NAME" in _fails(s, "policy", "add", "--no-streaming", code=2)
    usage_errors = [
        ("policy", "add", "--org", org),  # no rule
        ("policy", "add", "--org", org, "--deny-model", "a", "--allow-model", "b"),  # two rules
        ("policy", "add", "--org", org, "--max-tokens", "0"),
        ("policy", "add", "--org", org, "--max-tokens", "lots"),
        ("policy", "add", "--org", org, "--deny-model", ""),
        ("policy", "remove", "seven"),
    ]
    for args in usage_errors:
        _usage_error(*args)


def test_project_set_and_show(base_settings: Settings, org: str) -> None:
    s = base_settings
    shown = _ok(s, "project", "show", "web", "--org", org)
    assert shown.splitlines()[:14] == [
        f"project {org}/web",
        "  cache_ttl_seconds    3600",
        "  semantic_cache       off",
        "  semantic_threshold   0.92",
        "  rpm_limit            none",
        "  memory_token_budget  2000",
        "  edge_cache           global",
        "  prompt_cache_key     on",
        "  cache_breakpoints    on",
        "  prefix_flight        on",
        "  pii_guard            off",
        "  cache_max_ttl_seconds none",
        "  cache_scope          project",
        "  session_memory       on",
    ]
    changed = _ok(
        s,
        "project",
        "set",
        "web",
        "--org",
        org,
        "--cache-ttl",
        "600",
        "--semantic-cache",
        "on",
        "--semantic-threshold",
        "0.8",
        "--rpm",
        "120",
        "--memory-tokens",
        "500",
        "--edge-cache",
        "off",
        "--prompt-cache-key",
        "off",
        "--cache-breakpoints",
        "off",
        "--prefix-flight",
        "off",
        "--pii-guard",
        "on",
        "--cache-max-ttl",
        "600",
        "--cache-scope",
        "user",
        "--session-memory",
        "off",
    )
    assert changed.splitlines()[1:14] == [
        "  cache_ttl_seconds    600",
        "  semantic_cache       on",
        "  semantic_threshold   0.8",
        "  rpm_limit            120",
        "  memory_token_budget  500",
        "  edge_cache           off",
        "  prompt_cache_key     off",
        "  cache_breakpoints    off",
        "  prefix_flight        off",
        "  pii_guard            on",
        "  cache_max_ttl_seconds 600",
        "  cache_scope          user",
        "  session_memory       off",
    ]
    _ok(s, "project", "set", "web", "--org", org, "--rpm", "none")
    after = _ok(s, "project", "show", "web", "--org", org).splitlines()
    assert "  rpm_limit            none" in after and "  cache_ttl_seconds    600" in after
    assert "  cache_ttl_seconds    3600" in _ok(s, "project", "show", "api", "--org", org).splitlines()


def test_project_show_lists_budgets_and_policies(base_settings: Settings, org: str) -> None:
    s = base_settings
    rule = int(_ok(s, "policy", "add", "--org", org, "--deny-model", "gpt-4*"))
    _ok(s, "budget", "set", "--project", "web", "--org", org, "--monthly-cents", "5000")
    shown = _ok(s, "project", "show", "web", "--org", org).splitlines()
    assert "  budget (project)  5000 cents/month" in shown
    assert f"  policy #{rule} (org {org}) denies model 'gpt-4*'" in shown


def test_project_errors(base_settings: Settings, org: str) -> None:
    s = base_settings
    assert _fails(s, "project", "show", "nope", "--org", org).strip() == (
        f"prism: no project 'nope' in org '{org}'"
    )
    for bad in (
        ("--cache-ttl", "-1"),
        ("--semantic-cache", "yes"),
        ("--semantic-threshold", "1.5"),
        ("--semantic-threshold", "abc"),
        ("--rpm", "0"),
        ("--memory-tokens", "many"),
        ("--edge-cache", "regional"),
    ):
        _usage_error("project", "set", "web", "--org", org, *bad)


def test_budget_set_list_remove(base_settings: Settings, org: str) -> None:
    s = base_settings
    assert f"budget for {org}/web: 5000 cents/month" in _ok(
        s, "budget", "set", "--project", "web", "--org", org, "--monthly-cents", "5000"
    )
    _ok(s, "budget", "set", "--project", "web", "--org", org, "--monthly-cents", "7500")
    tagged = _ok(
        s,
        "budget",
        "set",
        "--project",
        "web",
        "--org",
        org,
        "--tag",
        "feature=onboarding",
        "--monthly-cents",
        "1250.5",
    )
    assert f"budget for {org}/web tagged feature=onboarding: 1250.5 cents/month" in tagged
    _ok(s, "budget", "set", "--project", "api", "--org", org, "--monthly-cents", "100")

    mine = [line for line in _ok(s, "budget", "list").splitlines() if line.startswith(f"{org}/")]
    assert mine == [
        f"{org}/api\t(project)\t100",
        f"{org}/web\t(project)\t7500",
        f"{org}/web\tfeature=onboarding\t1250.5",
    ]

    assert "removed the budget" in _ok(s, "budget", "remove", "--project", "web", "--org", org)
    assert _fails(s, "budget", "remove", "--project", "web", "--org", org).strip() == (
        f"prism: no budget for {org}/web"
    )
    _ok(s, "budget", "remove", "--project", "web", "--org", org, "--tag", "feature=onboarding")
    mine = [line for line in _ok(s, "budget", "list").splitlines() if line.startswith(f"{org}/")]
    assert mine == [f"{org}/api\t(project)\t100"]


def test_budget_errors(base_settings: Settings, org: str) -> None:
    s = base_settings
    assert _fails(s, "budget", "set", "--project", "nope", "--org", org, "--monthly-cents", "1").strip() == (
        f"prism: no project 'nope' in org '{org}'"
    )
    for bad in (
        ("--monthly-cents", "-5"),
        ("--monthly-cents", "ten"),
        ("--monthly-cents", "NaN"),
        ("--monthly-cents", "1", "--tag", "feature"),
        ("--monthly-cents", "1", "--tag", "=x"),
        ("--monthly-cents", "1", "--tag", "a=b,c=d"),
        ("--monthly-cents", "1", "--tag", "k=" + "v" * 65),
        (),  # --monthly-cents is required
    ):
        _usage_error("budget", "set", "--project", "web", "--org", org, *bad)


async def test_cli_changes_are_what_the_origin_loads(base_settings: Settings, pool: postgres.Pool) -> None:
    name = f"cli-{uuid.uuid4().hex[:8]}"
    for args in (
        ("keys", "create", "--project", "web", "--org", name),
        ("policy", "add", "--project", "web", "--org", name, "--no-streaming"),
        ("project", "set", "web", "--org", name, "--rpm", "42"),
        ("budget", "set", "--project", "web", "--org", name, "--tag", "team=a", "--monthly-cents", "9"),
    ):
        await asyncio.to_thread(_ok, base_settings, *args)
    ref = await controls.find_project(pool, org=name, project="web")
    assert ref is not None
    loaded = await controls.load_controls(pool, ref.org_id, ref.project_id)
    assert not loaded.policies.allow_streaming
    assert loaded.settings.rpm_limit == 42
    assert [budget.tag for budget in loaded.budgets] == ["team=a"]
