"""A ``prompt_cache_key`` per session, so that a session's turns reach the provider cache holding
their prefix.

OpenAI sends requests with one key to the same cache machines; without a key a long session's turns
spread over them and go cold part way, while the average hit rate still looks fine. The key is an
HMAC of project and session: the provider never sees the session id, and two projects' ``conv-1``
are two keys. A key the client sent is its own decision and stays; other providers ignore the field.
"""

import hmac
from typing import Any, Final

FIELD: Final = "prompt_cache_key"
_PURPOSE: Final = b"prism prompt_cache_key\x00"


def session_cache_key(secret: bytes, project_id: str, session_id: str) -> str:
    message = _PURPOSE + project_id.encode() + b"\x00" + session_id.encode()
    return "prism-" + hmac.digest(secret, message, "sha256")[:16].hex()


def with_session_cache_key(
    body: dict[str, Any], *, secret: bytes, project_id: str, session_id: str | None
) -> dict[str, Any]:
    """``body`` with the session's key added, or unchanged without a session or with a key of its own."""
    if session_id is None or FIELD in body:
        return body
    return {**body, FIELD: session_cache_key(secret, project_id, session_id)}
