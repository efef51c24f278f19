"""``/admin/v1/...``: what the ``prism`` CLI does, as JSON, for platform teams to automate.

Orgs (``GET|POST /orgs``), projects (``GET|POST /projects``, ``GET|PATCH
/projects/{org}/{project}``), keys (``GET|POST /keys``, ``DELETE /keys/{prefix}``), budgets
(``GET /budgets``, ``PUT|DELETE /budgets/{org}/{project}``), policies (``GET|POST /policies``,
``DELETE /policies/{id}``) and dashboard users (``GET|POST /users``, ``DELETE /users/{email}``).
Every change goes through ``origin.admin.operations``, as the CLI's do. The caller sends the admin
token (``PRISM_ADMIN_TOKEN``) as a bearer token, never a project key; without that setting the
admin API is off.
"""

import dataclasses
from collections.abc import Awaitable, Callable, Collection, Mapping
from datetime import datetime
from functools import wraps
from typing import Any, Final, Literal, TypeVar, cast, get_args, get_origin, get_type_hints

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from origin.admin import fields
from origin.admin.operations import Conflict, NotFound, OperationError, Operations
from origin.controls.policy import Effect, PolicyRule, ProjectControls, ProjectSettings, Target
from origin.http.body import read_json
from origin.http.errors import ApiError, invalid_request
from origin.http.responses import JSONResponse
from origin.state import AppState
from origin.stores import controls, postgres, users
from origin.stores.controls import ProjectRef, Tag
from shared.keys import looks_like_key, parse_bearer, secrets_equal
from shared.tags import parse_tags

T = TypeVar("T")
Handler = Callable[[Request, Operations], Awaitable[Response]]
SETTINGS: Final = get_type_hints(ProjectSettings)
KEY_FIELDS: Final = ("org", "project", "budget_cents", "rpm", "tpm", "models", "expires_at")
POLICY_FIELDS: Final = ("org", "project", "effect", "target", "pattern", "max_tokens")


def _admin_token(request: Request) -> None:
    state: AppState = request.app.state.prism
    expected = state.settings.admin_token
    if expected is None:
        raise ApiError(
            404,
            "The admin API is off: set PRISM_ADMIN_TOKEN on the origins to turn it on.",
            code="admin_api_off",
        )
    given = parse_bearer(request.headers.get("authorization"))
    if given is None:
        raise ApiError(
            401,
            "Send the admin token as 'Authorization: Bearer <PRISM_ADMIN_TOKEN>'.",
            code="missing_admin_token",
        )
    if secrets_equal(given, expected):
        return
    if looks_like_key(given):
        raise ApiError(
            403,
            "A project's API key cannot use the admin API: send the admin token.",
            code="admin_token_required",
        )
    raise ApiError(401, "That is not the admin token.", code="invalid_admin_token")


def admin(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """The endpoint behind the admin token, its operations' refusals said as API errors."""

    @wraps(handler)
    async def endpoint(request: Request) -> Response:
        _admin_token(request)
        state: AppState = request.app.state.prism
        try:
            return await handler(request, state.operations)
        except NotFound as error:
            raise ApiError(404, str(error), code="not_found") from None
        except Conflict as error:
            raise ApiError(409, str(error), code="conflict") from None
        except (OperationError, ValueError) as error:  # ValueError: a setting out of its range
            raise invalid_request(str(error)) from None

    return endpoint


async def _object(request: Request, allowed: Collection[str]) -> dict[str, Any]:
    state: AppState = request.app.state.prism
    body = await read_json(request, state.settings.max_body_bytes)
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.", code="invalid_body")
    unknown = sorted(set(body) - set(allowed))
    if unknown:
        raise invalid_request(f"Unknown field {unknown[0]!r}.", param=unknown[0])
    return body


def _read(body: Mapping[str, Any], name: str, read: Callable[[Any], T]) -> T | None:
    """``body[name]`` through a reader of ``origin.admin.fields`` (absent or null: None)."""
    value = body.get(name)
    if value is None:
        return None
    try:
        return read(value)
    except (ValueError, TypeError, AttributeError) as error:
        message = str(error) if isinstance(error, ValueError) else f"{name} has the wrong type"
        raise invalid_request(f"{name}: {message}", param=name) from None


def _need(body: Mapping[str, Any], name: str, read: Callable[[Any], T]) -> T:
    value = _read(body, name, read)
    if value is None:
        raise invalid_request(f"{name} is required.", param=name)
    return value


def _name(value: Any) -> str:
    if not isinstance(value, str) or not value.strip() or len(value) > 200:
        raise ValueError("give a name of 1 to 200 characters")
    return value.strip()


def _tag(value: Any) -> Tag:
    tags = (parse_tags(value) if isinstance(value, str) else None) or {}
    if len(tags) != 1:
        raise ValueError(f"{value!r} is not one tag key=value")
    return next(iter(tags.items()))


def _models(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise ValueError("give a list of model names or globs")
    return fields.model_globs(",".join(value))


def _one_of(choices: tuple[str, ...]) -> Callable[[Any], str]:
    def read(value: Any) -> str:
        if value not in choices:
            raise ValueError(f"{value!r} is not one of {', '.join(choices)}")
        return str(value)

    return read


def _fits(value: Any, kinds: list[Any]) -> bool:
    if isinstance(value, bool):  # JSON's true is no number of seconds
        return bool in kinds
    if isinstance(value, int):
        return int in kinds or float in kinds
    return any(isinstance(value, kind) for kind in kinds)


def _setting(name: str, value: Any) -> Any:
    """A project setting's value as JSON gives it, of its field's type (ranges: ``ProjectSettings``)."""
    hint = SETTINGS[name]
    choices = get_args(hint)
    if get_origin(hint) is Literal:
        fits = value in choices
    elif value is None:
        fits = type(None) in choices
    else:
        fits = _fits(value, [kind for kind in choices if kind is not type(None)] or [hint])
    if not fits:
        wanted = (
            ", ".join(map(repr, choices))
            if get_origin(hint) is Literal
            else str(hint).replace("NoneType", "null")
        )
        raise invalid_request(f"{name} must be {wanted}, not {value!r}.", param=name)
    return float(value) if hint is float else value


# --- views -------------------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _rule(rule: PolicyRule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "scope": rule.scope,
        "scope_name": rule.scope_name,
        "effect": rule.effect,
        "target": rule.target,
        "pattern": rule.pattern,
        "max_tokens": rule.max_tokens,
        "description": rule.action,
    }


def _project(ref: ProjectRef, loaded: ProjectControls) -> dict[str, Any]:
    return {
        "org": ref.org_name,
        "project": ref.project_name,
        "settings": dataclasses.asdict(loaded.settings),
        "budgets": [
            {"tag": budget.tag, "monthly_cents": float(budget.monthly_cents)} for budget in loaded.budgets
        ],
        "policies": [_rule(rule) for rule in loaded.policies.rules],
    }


def _limits(limits: postgres.KeyLimits) -> dict[str, Any]:
    return {
        "budget_cents": limits.budget_cents,
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "models": list(limits.models),
        "expires_at": _iso(limits.expires_at),
    }


def _list(data: list[dict[str, Any]]) -> JSONResponse:
    return JSONResponse({"object": "list", "data": data})


# --- orgs ---------------------------------------------------------------------------------------


def _orgs(listing: list[controls.ProjectListing]) -> list[dict[str, Any]]:
    orgs: dict[str, dict[str, Any]] = {}
    for item in listing:
        org = orgs.setdefault(item.org_name, {"org": item.org_name, "projects": [], "active_keys": 0})
        if item.project_name is not None:
            org["projects"].append(item.project_name)
            org["active_keys"] += item.active_keys
    return list(orgs.values())


@admin
async def list_orgs(request: Request, ops: Operations) -> Response:
    return _list(_orgs(await controls.list_projects(ops.pool)))


@admin
async def create_org(request: Request, ops: Operations) -> Response:
    org = _need(await _object(request, ("org",)), "org", _name)
    await ops.create_org(org)
    return JSONResponse(_orgs(await controls.list_projects(ops.pool, org=org))[0], status_code=201)


# --- projects -----------------------------------------------------------------------------------


@admin
async def list_projects(request: Request, ops: Operations) -> Response:
    listing = await controls.list_projects(ops.pool, org=request.query_params.get("org"))
    return _list(
        [
            {"org": item.org_name, "project": item.project_name, "active_keys": item.active_keys}
            for item in listing
        ]
    )


@admin
async def create_project(request: Request, ops: Operations) -> Response:
    body = await _object(request, ("org", "project"))
    org = _read(body, "org", _name) or "default"
    project = _need(body, "project", _name)
    return JSONResponse(_project(*await ops.create_project(org, project)), status_code=201)


@admin
async def show_project(request: Request, ops: Operations) -> Response:
    params = request.path_params
    return JSONResponse(_project(*await ops.project(params["org"], params["project"])))


@admin
async def update_project(request: Request, ops: Operations) -> Response:
    body = await _object(request, SETTINGS)
    changes = {name: _setting(name, value) for name, value in body.items()}
    params = request.path_params
    return JSONResponse(_project(*await ops.update_project(params["org"], params["project"], changes)))


# --- keys ---------------------------------------------------------------------------------------


@admin
async def list_keys(request: Request, ops: Operations) -> Response:
    return _list(
        [
            {
                "prefix": item.prefix,
                "status": item.current_status,
                "org": item.org_name,
                "project": item.project_name,
                "created_at": _iso(item.created_at),
                "revoked_at": _iso(item.revoked_at),
                **_limits(item.limits),
            }
            for item in await postgres.list_keys(ops.pool)
        ]
    )


@admin
async def create_key(request: Request, ops: Operations) -> Response:
    body = await _object(request, KEY_FIELDS)
    project = _need(body, "project", _name)
    limits = postgres.KeyLimits(
        budget_cents=_read(body, "budget_cents", fields.positive),
        rpm=_read(body, "rpm", fields.positive),
        tpm=_read(body, "tpm", fields.positive),
        models=_read(body, "models", _models) or (),
        expires_at=_read(body, "expires_at", fields.expiry),
    )
    created = await ops.create_key(_read(body, "org", _name) or "default", project, limits)
    record = created.record
    view = {
        "key": created.key,
        "prefix": record.prefix,
        "org": record.org_name,
        "project": record.project_name,
    }
    return JSONResponse({**view, **_limits(limits)}, status_code=201)


@admin
async def revoke_key(request: Request, ops: Operations) -> Response:
    prefix = request.path_params["prefix"]
    return JSONResponse({"prefix": prefix, "revoked": await ops.revoke_keys(prefix)})


# --- budgets ------------------------------------------------------------------------------------


@admin
async def list_budgets(request: Request, ops: Operations) -> Response:
    return _list(
        [
            {
                "org": item.org_name,
                "project": item.project_name,
                "tag": item.budget.tag,
                "monthly_cents": float(item.budget.monthly_cents),
            }
            for item in await controls.list_budgets(ops.pool)
        ]
    )


@admin
async def set_budget(request: Request, ops: Operations) -> Response:
    body = await _object(request, ("monthly_cents", "tag"))
    cents = _need(body, "monthly_cents", fields.monthly_cents)
    params = request.path_params
    await ops.set_budget(params["org"], params["project"], cents, _read(body, "tag", _tag))
    return JSONResponse(_project(*await ops.project(params["org"], params["project"])))


@admin
async def remove_budget(request: Request, ops: Operations) -> Response:
    params = request.path_params
    await ops.remove_budget(params["org"], params["project"], _read(request.query_params, "tag", _tag))
    return JSONResponse(_project(*await ops.project(params["org"], params["project"])))


# --- policies -----------------------------------------------------------------------------------


@admin
async def list_policies(request: Request, ops: Operations) -> Response:
    query = request.query_params
    return _list([_rule(rule) for rule in await ops.policies(query.get("org"), query.get("project"))])


@admin
async def add_policy(request: Request, ops: Operations) -> Response:
    body = await _object(request, POLICY_FIELDS)
    effect = cast(Effect, _need(body, "effect", _one_of(get_args(Effect))))
    target = cast(Target, _need(body, "target", _one_of(get_args(Target))))
    pattern = body.get("pattern")
    if pattern is not None and not isinstance(pattern, str):
        raise invalid_request("pattern must be a string (a glob).", param="pattern")
    project = _read(body, "project", _name)
    org = _read(body, "org", _name) or ("default" if project is not None else None)
    if org is None:
        raise invalid_request(
            "Name the org the rule applies to (and the project, for a project rule).", param="org"
        )
    max_tokens = _read(body, "max_tokens", fields.positive)
    rule = await ops.add_policy(org, project, effect, target, pattern, max_tokens)
    return JSONResponse(_rule(rule), status_code=201)


@admin
async def remove_policy(request: Request, ops: Operations) -> Response:
    policy_id = request.path_params["policy_id"]
    await ops.remove_policy(policy_id)
    return JSONResponse({"id": policy_id, "deleted": True})


# --- users --------------------------------------------------------------------------------------


@admin
async def list_users(request: Request, ops: Operations) -> Response:
    listing = await users.list_users(ops.pool, org=request.query_params.get("org"))
    return _list(
        [{"email": item.email, "org": item.org_name, "created_at": _iso(item.created_at)} for item in listing]
    )


@admin
async def create_user(request: Request, ops: Operations) -> Response:
    body = await _object(request, ("org", "email", "password"))
    org = _need(body, "org", _name)
    email = _need(body, "email", fields.email)
    await ops.create_user(org, email, _need(body, "password", fields.password))
    return JSONResponse({"email": email, "org": org}, status_code=201)


@admin
async def remove_user(request: Request, ops: Operations) -> Response:
    email = request.path_params["email"]
    await ops.remove_user(email)
    return JSONResponse({"email": email, "deleted": True})


def admin_routes() -> list[BaseRoute]:
    return [
        Route("/admin/v1/orgs", list_orgs, methods=["GET"]),
        Route("/admin/v1/orgs", create_org, methods=["POST"]),
        Route("/admin/v1/projects", list_projects, methods=["GET"]),
        Route("/admin/v1/projects", create_project, methods=["POST"]),
        Route("/admin/v1/projects/{org}/{project}", show_project, methods=["GET"]),
        Route("/admin/v1/projects/{org}/{project}", update_project, methods=["PATCH"]),
        Route("/admin/v1/keys", list_keys, methods=["GET"]),
        Route("/admin/v1/keys", create_key, methods=["POST"]),
        Route("/admin/v1/keys/{prefix}", revoke_key, methods=["DELETE"]),
        Route("/admin/v1/budgets", list_budgets, methods=["GET"]),
        Route("/admin/v1/budgets/{org}/{project}", set_budget, methods=["PUT"]),
        Route("/admin/v1/budgets/{org}/{project}", remove_budget, methods=["DELETE"]),
        Route("/admin/v1/policies", list_policies, methods=["GET"]),
        Route("/admin/v1/policies", add_policy, methods=["POST"]),
        Route("/admin/v1/policies/{policy_id:int}", remove_policy, methods=["DELETE"]),
        Route("/admin/v1/users", list_users, methods=["GET"]),
        Route("/admin/v1/users", create_user, methods=["POST"]),
        Route("/admin/v1/users/{email}", remove_user, methods=["DELETE"]),
    ]
