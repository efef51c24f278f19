"""``/v1/cache/warmups``: the key's project's schedule of prompt prefixes kept warm at the provider.

``POST`` saves one (``name``, ``model``, the prefix's ``messages`` — system or developer only — and
``tools``, ``every_seconds``), run under the key that saved it; ``GET`` lists them with how they ran;
``DELETE /v1/cache/warmups/{name}`` stops one.
"""

import re
from typing import Any, Final

from starlette.requests import Request

from origin.chat.prefix_flight import SYSTEM_ROLES, long_prefix
from origin.chat.warmup import warmup_body
from origin.http.body import read_json
from origin.http.errors import ApiError, invalid_request, refused_body
from origin.http.responses import JSONResponse
from origin.state import AppState
from origin.stores import warmups
from shared.chat_body import validate_chat_body
from shared.errors import InvalidBody

NAME: Final = re.compile(r"[A-Za-z0-9._-]{1,64}")
DEFAULT_EVERY_SECONDS: Final = 240  # inside the providers' shortest cache lifetime, five minutes
PREFIX_FIELDS: Final = ("name", "model", "messages", "tools", "every_seconds")


def _prefix(state: AppState, project_id: str, body: Any) -> tuple[str, dict[str, Any], int]:
    """The warm-up's name, the prefix it keeps warm, and its interval; ``ApiError`` when unfit."""
    if not isinstance(body, dict):
        raise invalid_request("The request body must be a JSON object.", code="invalid_body")
    unknown = sorted(set(body) - set(PREFIX_FIELDS))
    if unknown:
        raise invalid_request(f"Unknown field {unknown[0]!r}.", param=unknown[0])
    name = body.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise invalid_request("name must be 1 to 64 letters, digits, '.', '_' or '-'.", param="name")
    every = body.get("every_seconds", DEFAULT_EVERY_SECONDS)
    if isinstance(every, bool) or not isinstance(every, int) or not 1 <= every <= 86400:
        raise invalid_request("every_seconds must be a whole number from 1 to 86400.", param="every_seconds")
    model_name = body.get("model")
    model = state.config.models.get(state.config.aliases.get(str(model_name), str(model_name)))
    if model is None:
        raise invalid_request(f"Unknown model {model_name!r}: name a configured model.", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise invalid_request("messages must list the prefix's system messages.", param="messages")
    if any(not isinstance(message, dict) or message.get("role") not in SYSTEM_ROLES for message in messages):
        raise invalid_request(
            "A warm-up's messages are its stable prefix: system or developer messages only.", param="messages"
        )
    prefix = {
        "model": model.name,
        "messages": messages,
        **({"tools": body["tools"]} if body.get("tools") else {}),
    }
    try:
        validate_chat_body(warmup_body(prefix))
    except InvalidBody as error:
        raise refused_body(error) from None
    kind = state.config.providers[model.provider].kind
    if long_prefix(project_id, prefix, model, kind) is None:
        raise invalid_request(
            f"This prefix is too short for {model.name}'s provider to cache; nothing would stay warm.",
            code="prefix_too_short",
            param="messages",
        )
    return name, prefix, every


async def save_warmup(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    key = await state.auth.authenticate(request.headers.get("authorization"))
    name, prefix, every = _prefix(
        state, key.project_id, await read_json(request, state.settings.max_body_bytes)
    )
    await warmups.save(state.pool, key.project_id, name, key.key_id, prefix, every)
    return JSONResponse(await _one(state, key.project_id, name))


async def list_warmups(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    key = await state.auth.authenticate(request.headers.get("authorization"))
    listed = await warmups.listed(state.pool, [key.project_id], state.settings.warmup_grace_seconds)
    return JSONResponse({"object": "list", "data": [warmup.to_json() for warmup in listed]})


async def delete_warmup(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    key = await state.auth.authenticate(request.headers.get("authorization"))
    name = request.path_params["name"]
    if not await warmups.delete(state.pool, key.project_id, name):
        raise ApiError(404, f"No warm-up named {name!r} in this project.", code="warmup_not_found")
    return JSONResponse({"object": "cache.warmup.deleted", "name": name, "deleted": True})


async def _one(state: AppState, project_id: str, name: str) -> dict[str, Any]:
    listed = await warmups.listed(state.pool, [project_id], state.settings.warmup_grace_seconds)
    return next(warmup.to_json() for warmup in listed if warmup.name == name)
