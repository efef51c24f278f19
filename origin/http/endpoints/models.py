"""``GET /v1/models``: the models (and aliases) the key may use."""

from starlette.requests import Request

from origin.chat.routing import AUTO
from origin.http.responses import JSONResponse
from origin.state import AppState


async def list_models(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    await state.auth.authenticate(request.headers.get("authorization"))
    names = [AUTO, *state.config.models, *state.config.aliases]
    data = [{"id": name, "object": "model", "created": 0, "owned_by": _owner(state, name)} for name in names]
    return JSONResponse({"object": "list", "data": data})


def _owner(state: AppState, name: str) -> str:
    model = state.config.models.get(state.config.aliases.get(name, name))
    return model.provider if model else "prism"
