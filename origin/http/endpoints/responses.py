"""``POST /v1/responses``, ``GET`` and ``DELETE /v1/responses/{id}`` and ``GET
/v1/responses/{id}/input_items`` (OpenAI's Responses API)."""

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from origin.chat.request import Incoming
from origin.http.body import read_json
from origin.state import AppState


async def create_response(request: Request) -> Response:
    state: AppState = request.app.state.prism
    incoming = Incoming(request.headers, partial(read_json, request, state.settings.max_body_bytes))
    return await state.responses.create(incoming)


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
