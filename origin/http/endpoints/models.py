"""``GET /v1/models`` and ``GET /v1/models/{model}``: the models (and aliases) the key may use."""

from typing import Any

from starlette.requests import Request

from origin.chat.routing import AUTO
from origin.http.errors import ApiError
from origin.http.responses import JSONResponse
from origin.state import AppState


async def list_models(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    await state.auth.authenticate(request.headers.get("authorization"))
    return JSONResponse({"object": "list", "data": [_model(state, name) for name in _names(state)]})


async def retrieve_model(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    await state.auth.authenticate(request.headers.get("authorization"))
    name = request.path_params["model"]
    if name not in _names(state):
        raise ApiError(
            404,
            f"The model '{name}' does not exist or you do not have access to it.",
            code="model_not_found",
            param="model",
        )
    return JSONResponse(_model(state, name))


def _names(state: AppState) -> list[str]:
    return [AUTO, *state.config.models, *state.config.aliases]


def _model(state: AppState, name: str) -> dict[str, Any]:
    model = state.config.models.get(state.config.aliases.get(name, name))
    return {"id": name, "object": "model", "created": 0, "owned_by": model.provider if model else "prism"}
