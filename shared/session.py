"""The one parser of ``X-Prism-Session``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import SESSION
from shared.text import ASCII_WHITESPACE, is_visible_ascii

MAX_LENGTH: Final = 128
ERROR_CODE: Final = "invalid_session_header"


def parse_session(value: str | None) -> str | None:
    """Return the session id, ``None`` when absent, or raise ``InvalidHeader``."""
    if value is None:
        return None
    session = value.strip(ASCII_WHITESPACE)
    if not session:
        return None
    if len(session) > MAX_LENGTH:
        raise InvalidHeader(SESSION, f"{SESSION} must be at most {MAX_LENGTH} characters", ERROR_CODE)
    if not is_visible_ascii(session):
        raise InvalidHeader(SESSION, f"{SESSION} may only contain printable ASCII without spaces", ERROR_CODE)
    return session
