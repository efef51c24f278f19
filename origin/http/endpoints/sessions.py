"""``DELETE /v1/sessions/{id}``: erase a session's memory (scoped to the key's project)."""

from starlette.requests import Request

from origin.cache.exact import REDIS_ERRORS
from origin.http.errors import ApiError, invalid_request
from origin.http.responses import JSONResponse
from origin.state import AppState
from shared.errors import InvalidHeader
from shared.session import parse_session


async def delete_session(request: Request) -> JSONResponse:
    state: AppState = request.app.state.prism
    key = await state.auth.authenticate(request.headers.get("authorization"))
    try:
        session = parse_session(request.path_params["session_id"])
    except InvalidHeader as error:
        raise invalid_request(str(error), code="invalid_session_id", param="session_id") from None
    if session is None:
        raise invalid_request("A session id is required.", code="invalid_session_id", param="session_id")
    try:
        erased = await state.memory.erase(key.project_id, session)
    except REDIS_ERRORS:
        raise ApiError(
            503, "Session memory is unavailable right now; retry shortly.", code="memory_unavailable"
        ) from None
    return JSONResponse({"id": session, "object": "session.deleted", "deleted": erased})
