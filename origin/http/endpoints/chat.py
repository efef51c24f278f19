"""``POST /v1/chat/completions``."""

import logging

from starlette.requests import Request
from starlette.responses import Response

from origin.cache.directive import parse_directive
from origin.cache.memory import parse_memory_mode
from origin.chat.pipeline import ChatRequest
from origin.chat.tasks import classify
from origin.controls.admission import output_cap, policy_denied
from origin.http.body import read_json
from origin.http.errors import ApiError, invalid_request
from origin.http.validation import validate_chat_body
from origin.state import AppState
from shared import headers as h
from shared.errors import InvalidHeader
from shared.session import parse_session
from shared.tags import parse_tags

log = logging.getLogger("prism.chat")


def parse_mode(value: str | None) -> str:
    mode = (value or h.DEFAULT_MODE).strip().lower()
    if mode not in h.MODES:
        raise invalid_request(
            f"{h.MODE} must be one of {', '.join(h.MODES)}.", code="invalid_mode_header", param=h.MODE
        )
    return mode


def parse_switch(value: str | None, header: str, *, default: bool) -> bool:
    if value is None or not value.strip():
        return default
    text = value.strip().lower()
    if text not in ("on", "off"):
        raise invalid_request(
            f"{header} must be 'on' or 'off'.", code="invalid_semantic_header", param=header
        )
    return text == "on"


async def chat_completions(request: Request) -> Response:
    state: AppState = request.app.state.prism
    key = await state.auth.authenticate(request.headers.get("authorization"))
    ledger = state.open_ledger(key)
    row = ledger.row
    try:
        controls = await state.controls.get(key.org_id, key.project_id)
        await state.admission.rate_limit(key, controls)
        row.request_tags = parse_tags(request.headers.get(h.TAGS))
        try:
            row.session_id = parse_session(request.headers.get(h.SESSION))
        except InvalidHeader as error:
            raise invalid_request(str(error), code=error.code, param=error.header) from None
        row.mode = parse_mode(request.headers.get(h.MODE))
        body = validate_chat_body(await read_json(request, state.settings.max_body_bytes))
        row.was_streaming = bool(body.get("stream"))
        row.task_type = classify(body["messages"], response_format=body.get("response_format"))
        prefer = (request.headers.get(h.MODEL_PREFER) or "").strip() or None
        try:
            memory = parse_memory_mode(request.headers.get(h.MEMORY), has_session=row.session_id is not None)
        except ValueError as error:
            raise invalid_request(str(error), code="invalid_memory_header", param=h.MEMORY) from None
        denial = controls.policies.check_request(output_cap(body), bool(body.get("stream")))
        if denial is not None:
            raise policy_denied(denial)
        directive = parse_directive(
            request.headers.get("cache-control"),
            request.headers.get(h.CACHE_TTL),
            default_ttl=controls.settings.cache_ttl_seconds,
        )
        chat = ChatRequest(
            body=body,
            mode=row.mode,
            prefer=prefer,
            task_type=row.task_type,
            directive=directive,
            controls=controls,
            semantic=parse_switch(
                request.headers.get(h.SEMANTIC), h.SEMANTIC, default=controls.settings.semantic_cache
            ),
            session_id=row.session_id,
            memory=memory,
        )
        return await state.pipeline.handle(chat, ledger)
    except ApiError as error:
        ledger.fail(error.status, error.code)
        ledger.settle()
        return error.response({h.REQUEST_ID: ledger.request_id})
    except Exception:
        log.exception("unexpected error", extra={"request_id": ledger.request_id})
        ledger.fail(500, "internal_error")
        ledger.settle()
        internal = ApiError(
            500, "Prism hit an internal error; the request id identifies it.", code="internal_error"
        )
        return internal.response({h.REQUEST_ID: ledger.request_id})
