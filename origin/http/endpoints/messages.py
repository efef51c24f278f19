"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic's Messages API)."""

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from origin.chat.request import Incoming
from origin.http.body import read_json
from origin.state import AppState


def _incoming(request: Request, state: AppState) -> Incoming:
    return Incoming(request.headers, partial(read_json, request, state.settings.max_body_bytes))


async def create_message(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.messages.handle(_incoming(request, state))


async def count_tokens(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.messages.count_tokens(_incoming(request, state))
