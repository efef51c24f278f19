"""The admin API through a real origin (real Postgres and Redis, Workers KV as the fake Cloudflare
API): the admin token and its refusals, and what the CLI does — projects, keys, budgets, policies,
users — as JSON, with the same side effects (grants at the edge, revoked keys refused)."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import openai
import pytest

from origin.settings import Settings
from origin.stores import postgres
from shared.edgekv import KeyGrant, key_name
from shared.keys import key_hash
from tests.fakes.cloudflare_api import FakeCloudflare
from tests.fakes.provider import FakeProvider
from tests.harness import RunningOrigin, running_origin
from tests.origin.helpers import gateway_settings, run_cli

TOKEN = "admin-token-for-tests-0123456789abcdef"
HELLO = [{"role": "user", "content": "hello admin"}]


@pytest.fixture(scope="module")
async def cloudflare() -> AsyncIterator[FakeCloudflare]:
    fake = FakeCloudflare()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture(scope="module")
async def admin_origin(
    base_settings: Settings,
    migrated: str,
    fake_server: tuple[FakeProvider, str],
    cloudflare: FakeCloudflare,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[RunningOrigin]:
    settings = gateway_settings(
        base_settings,
        fake_server[1],
        tmp_path_factory.mktemp("admin"),
        admin_token=TOKEN,
        key_cache_seconds=30,  # only the revocation's own cache drop can stop a key within 3 s
        cf_api_token=cloudflare.token,
        cf_account_id=cloudflare.account_id,
        cf_kv_namespace_id=cloudflare.namespace_id,
        cf_api_base_url=cloudflare.base_url,
    )
    async with running_origin(settings) as running:
        yield running


@pytest.fixture
async def admin(admin_origin: RunningOrigin) -> AsyncIterator[httpx.AsyncClient]:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(
        base_url=f"{admin_origin.url}/admin/v1", headers=headers, timeout=20
    ) as http:
        yield http


def _names() -> tuple[str, str]:
    return f"admin-org-{uuid.uuid4().hex[:8]}", f"admin-project-{uuid.uuid4().hex[:8]}"


def _error(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    error: dict[str, Any] = response.json()["error"]
    return error


async def test_the_admin_api_is_off_without_a_token_setting(origin: RunningOrigin) -> None:
    async with httpx.AsyncClient(base_url=origin.url) as http:
        response = await http.get("/admin/v1/keys", headers={"Authorization": f"Bearer {TOKEN}"})
    assert _error(response, 404)["code"] == "admin_api_off"
    assert "PRISM_ADMIN_TOKEN" in response.json()["error"]["message"]


async def test_only_the_admin_token_opens_it(admin_origin: RunningOrigin, pool: postgres.Pool) -> None:
    key, _ = await postgres.create_key(
        pool, project="admin-refusals", org="admin-refusals", pepper=admin_origin.state.settings.key_pepper
    )
    org, project = _names()
    async with httpx.AsyncClient(base_url=f"{admin_origin.url}/admin/v1") as http:
        for headers, status, code in [
            ({}, 401, "missing_admin_token"),
            ({"Authorization": "Basic YWRtaW46YWRtaW4="}, 401, "missing_admin_token"),
            ({"Authorization": f"Bearer {TOKEN}x"}, 401, "invalid_admin_token"),
            ({"Authorization": f"Bearer {key}"}, 403, "admin_token_required"),
            ({"x-api-key": TOKEN}, 401, "missing_admin_token"),
        ]:
            for method, path in [("GET", "/keys"), ("POST", "/projects"), ("DELETE", "/users/a@b.example")]:
                response = await http.request(
                    method, path, headers=headers, json={"org": org, "project": project}
                )
                assert _error(response, status)["code"] == code, (headers, method, path)
                assert response.json()["error"]["type"] in ("authentication_error", "permission_error")
    listed = await postgres.list_keys(pool)
    assert all(item.project_name != project for item in listed)  # the refused POST made nothing


async def test_a_key_made_by_the_api_works_reaches_the_edge_and_stops_when_revoked(
    admin: httpx.AsyncClient, admin_origin: RunningOrigin, cloudflare: FakeCloudflare, base_settings: Settings
) -> None:
    org, project = _names()
    created = await admin.post(
        "/keys",
        json={"org": org, "project": project, "rpm": 30, "models": ["beta*"], "expires_at": "30d"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    key = body["key"]
    assert (body["org"], body["project"], body["rpm"], body["models"]) == (org, project, 30, ["beta*"])
    assert body["prefix"] == key[:17] and body["expires_at"] > "2026"
    grant = KeyGrant.from_json(cloudflare.values[key_name(key_hash(key, base_settings.key_pepper))])
    assert grant.active and grant.models == ("beta*",)

    prism = openai.AsyncOpenAI(base_url=f"{admin_origin.url}/v1", api_key=key, max_retries=0)
    assert (await prism.chat.completions.create(model="beta", messages=HELLO)).choices  # type: ignore[arg-type]

    listing = (await admin.get("/keys")).json()["data"]
    mine = next(item for item in listing if item["prefix"] == body["prefix"])
    assert (mine["status"], mine["org"], mine["rpm"]) == ("active", org, 30)
    cli = await asyncio.to_thread(run_cli, admin_origin.state.settings, "keys", "list")
    assert body["prefix"] in cli.stdout  # one store: the CLI sees what the API made

    revoked = await admin.delete(f"/keys/{body['prefix']}")
    assert revoked.json() == {"prefix": body["prefix"], "revoked": 1}
    assert not KeyGrant.from_json(cloudflare.values[key_name(key_hash(key, base_settings.key_pepper))]).active
    deadline = asyncio.get_running_loop().time() + 3
    while True:
        try:
            await prism.chat.completions.create(model="beta", messages=HELLO)  # type: ignore[arg-type]
        except openai.AuthenticationError as refused:
            assert refused.code == "revoked_api_key"
            break
        assert asyncio.get_running_loop().time() < deadline, "a revoked key still works after 3 s"
        await asyncio.sleep(0.2)
    assert _error(await admin.delete(f"/keys/{body['prefix']}"), 404)["code"] == "not_found"


async def test_projects_settings_budgets_and_policies(
    admin: httpx.AsyncClient, cloudflare: FakeCloudflare, base_settings: Settings
) -> None:
    org, project = _names()
    made = await admin.post("/projects", json={"org": org, "project": project})
    assert made.status_code == 201, made.text
    assert made.json()["settings"]["edge_cache"] == "global" and made.json()["budgets"] == []
    key = (await admin.post("/keys", json={"org": org, "project": project})).json()["key"]
    name = key_name(key_hash(key, base_settings.key_pepper))
    assert KeyGrant.from_json(cloudflare.values[name]).edge_cache

    changed = await admin.patch(
        f"/projects/{org}/{project}", json={"edge_cache": "off", "rpm_limit": 120, "semantic_threshold": 1}
    )
    assert changed.status_code == 200, changed.text
    settings = changed.json()["settings"]
    assert (settings["edge_cache"], settings["rpm_limit"], settings["semantic_threshold"]) == (
        "off",
        120,
        1.0,
    )
    assert not KeyGrant.from_json(cloudflare.values[name]).edge_cache  # republished with the change
    assert (await admin.patch(f"/projects/{org}/{project}", json={"rpm_limit": None})).json()["settings"][
        "rpm_limit"
    ] is None

    await admin.put(f"/budgets/{org}/{project}", json={"monthly_cents": 5000})
    shown = (
        await admin.put(f"/budgets/{org}/{project}", json={"monthly_cents": 12.5, "tag": "team=search"})
    ).json()
    assert shown["budgets"] == [
        {"tag": None, "monthly_cents": 5000.0},
        {"tag": "team=search", "monthly_cents": 12.5},
    ]
    every = (await admin.get("/budgets")).json()["data"]
    assert {"org": org, "project": project, "tag": "team=search", "monthly_cents": 12.5} in every
    after = (await admin.delete(f"/budgets/{org}/{project}", params={"tag": "team=search"})).json()
    assert after["budgets"] == [{"tag": None, "monthly_cents": 5000.0}]
    missing = await admin.delete(f"/budgets/{org}/{project}", params={"tag": "team=search"})
    assert "no budget" in _error(missing, 404)["message"]

    generation = KeyGrant.from_json(cloudflare.values[name]).generation
    rule = await admin.post(
        "/policies",
        json={"org": org, "project": project, "effect": "deny", "target": "model", "pattern": "gpt-*"},
    )
    assert rule.status_code == 201, rule.text
    assert rule.json()["description"] == "denies model 'gpt-*'" and rule.json()["scope"] == "project"
    org_rule = (
        await admin.post(
            "/policies", json={"org": org, "effect": "limit", "target": "max_tokens", "max_tokens": 500}
        )
    ).json()
    assert org_rule["scope"] == "org"
    assert (
        KeyGrant.from_json(cloudflare.values[name]).generation != generation
    )  # edge hits stop under old rules
    listed = (await admin.get("/policies", params={"org": org, "project": project})).json()["data"]
    assert {item["id"] for item in listed} == {rule.json()["id"], org_rule["id"]}
    assert (await admin.get(f"/projects/{org}/{project}")).json()["policies"] == listed
    assert (await admin.delete(f"/policies/{org_rule['id']}")).json() == {
        "id": org_rule["id"],
        "deleted": True,
    }
    assert _error(await admin.delete(f"/policies/{org_rule['id']}"), 404)["code"] == "not_found"

    projects = (await admin.get("/projects", params={"org": org})).json()["data"]
    assert projects == [{"org": org, "project": project, "active_keys": 1}]
    orgs = (await admin.get("/orgs")).json()["data"]
    assert {"org": org, "projects": [project], "active_keys": 1} in orgs


async def test_orgs(admin: httpx.AsyncClient) -> None:
    org, project = _names()
    made = await admin.post("/orgs", json={"org": org})
    assert made.status_code == 201 and made.json() == {"org": org, "projects": [], "active_keys": 0}
    assert (await admin.post("/orgs", json={"org": org})).json()["org"] == org  # made once, answered again
    await admin.post("/projects", json={"org": org, "project": project})
    assert {"org": org, "projects": [project], "active_keys": 0} in (await admin.get("/orgs")).json()["data"]
    assert _error(await admin.post("/orgs", json={"org": " "}), 400)["param"] == "org"


async def test_users(admin: httpx.AsyncClient) -> None:
    org, _ = _names()
    email = f"{uuid.uuid4().hex[:8]}@admin.example"
    made = await admin.post("/users", json={"org": org, "email": email, "password": "long enough password"})
    assert made.status_code == 201 and made.json() == {"email": email, "org": org}
    again = await admin.post("/users", json={"org": org, "email": email, "password": "long enough password"})
    assert _error(again, 409)["code"] == "conflict"
    assert (await admin.get("/users", params={"org": org})).json()["data"][0]["email"] == email
    assert (await admin.delete(f"/users/{email}")).json() == {"email": email, "deleted": True}
    assert _error(await admin.delete(f"/users/{email}"), 404)["code"] == "not_found"
    assert (await admin.get("/users", params={"org": org})).json()["data"] == []


@pytest.mark.parametrize(
    ("method", "path", "body", "param", "words"),
    [
        ("POST", "/keys", {"project": "p", "colour": "red"}, "colour", "Unknown field"),
        ("POST", "/keys", {"org": "o"}, "project", "required"),
        ("POST", "/keys", {"project": "p", "rpm": 0}, "rpm", "positive whole number"),
        ("POST", "/keys", {"project": "p", "tpm": 1.5}, "tpm", "positive whole number"),
        ("POST", "/keys", {"project": "p", "models": "gpt-*"}, "models", "list of model names"),
        ("POST", "/keys", {"project": "p", "expires_at": "2001-01-01"}, "expires_at", "already past"),
        ("POST", "/keys", {"project": "p", "expires_at": 30}, "expires_at", "wrong type"),
        ("PATCH", "/projects/default/p", {"cache_ttl_seconds": True}, "cache_ttl_seconds", "must be"),
        ("PATCH", "/projects/default/p", {"edge_cache": "sometimes"}, "edge_cache", "must be"),
        ("PATCH", "/projects/default/p", {"rpm": 5}, "rpm", "Unknown field"),
        ("PUT", "/budgets/default/p", {"monthly_cents": -1}, "monthly_cents", "between 0"),
        ("PUT", "/budgets/default/p", {"monthly_cents": 1, "tag": "no-equals"}, "tag", "one tag"),
        ("POST", "/policies", {"org": "o", "effect": "ban", "target": "model"}, "effect", "not one of"),
        ("POST", "/policies", {"effect": "deny", "target": "model", "pattern": "x"}, "org", "Name the org"),
        (
            "POST",
            "/users",
            {"org": "o", "email": "nobody", "password": "long enough password"},
            "email",
            "email",
        ),
        (
            "POST",
            "/users",
            {"org": "o", "email": "a@b.example", "password": "short"},
            "password",
            "characters",
        ),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(
    admin: httpx.AsyncClient, method: str, path: str, body: dict[str, Any], param: str, words: str
) -> None:
    error = _error(await admin.request(method, path, json=body), 400)
    assert error["param"] == param and words in error["message"], error


async def test_what_the_stores_refuse(admin: httpx.AsyncClient) -> None:
    org, project = _names()
    assert "no project" in _error(await admin.get(f"/projects/{org}/{project}"), 404)["message"]
    assert _error(await admin.patch(f"/projects/{org}/{project}", json={"pii_guard": True}), 404)
    await admin.post("/projects", json={"org": org, "project": project})
    out_of_range = await admin.patch(f"/projects/{org}/{project}", json={"semantic_threshold": 2})
    assert "semantic_threshold" in _error(out_of_range, 400)["message"]
    shapeless = await admin.post("/policies", json={"org": org, "effect": "deny", "target": "model"})
    assert _error(shapeless, 400)["message"]
    not_json = await admin.post("/keys", content=b"{", headers={"content-type": "application/json"})
    assert _error(not_json, 400)
    not_an_object = await admin.post("/keys", json=[1])
    assert _error(not_an_object, 400)["code"] == "invalid_body"
    unknown_route = await admin.get("/orgs/nope")
    assert _error(unknown_route, 404)["code"] == "not_found"
