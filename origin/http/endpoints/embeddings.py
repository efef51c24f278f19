"""``POST /v1/embeddings`` (OpenAI's embeddings API)."""

from starlette.requests import Request
from starlette.responses import Response

from origin.http.incoming import incoming
from origin.state import AppState


async def create_embeddings(request: Request) -> Response:
    state: AppState = request.app.state.prism
    return await state.embeddings.handle(incoming(request, state.settings.max_body_bytes))
