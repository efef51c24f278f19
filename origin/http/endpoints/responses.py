"""``POST /v1/responses``, ``GET`` and ``DELETE /v1/responses/{id}`` and ``GET
/v1/responses/{id}/input_items`` (OpenAI's Responses API)."""

from starlette.requests import Request
from starlette.responses import Response

from origin.http.incoming import incoming
from origin.state import AppState


async def create_response(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.responses.create(incoming(request, state.settings.max_body_bytes))


async def retrieve_response(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.responses.retrieve(
        request.headers.get("authorization"), request.path_params["response_id"]
    )


async def list_input_items(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.responses.input_items(
        request.headers.get("authorization"), request.path_params["response_id"], request.query_params
    )


async def delete_response(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.responses.delete(
        request.headers.get("authorization"), request.path_params["response_id"]
    )
