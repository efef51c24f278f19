"""``POST /v1/chat/completions``: hand the request to the pipeline, which owns it."""

from starlette.requests import Request
from starlette.responses import Response

from origin.http.incoming import incoming
from origin.state import AppState


async def chat_completions(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.pipeline.handle(incoming(request, state.settings.max_body_bytes))
