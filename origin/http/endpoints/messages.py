"""``POST /v1/messages`` and ``POST /v1/messages/count_tokens`` (Anthropic's Messages API)."""

from starlette.requests import Request
from starlette.responses import Response

from origin.http.incoming import incoming
from origin.state import AppState


async def create_message(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.messages.handle(incoming(request, state.settings.max_body_bytes))


async def count_tokens(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.messages.count_tokens(incoming(request, state.settings.max_body_bytes))
