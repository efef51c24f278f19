"""``POST /v1/embeddings`` (OpenAI's embeddings API)."""

from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from origin.chat.request import Incoming
from origin.http.body import read_json
from origin.state import AppState


async def create_embeddings(request: Request) -> Response:
    state: AppState = request.app.state.prism
    incoming = Incoming(request.headers, partial(read_json, request, state.settings.max_body_bytes))
    return await state.embeddings.handle(incoming)
