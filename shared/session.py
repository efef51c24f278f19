"""The one parser of ``X-Prism-Session``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import SESSION
from shared.tags import ASCII_WHITESPACE

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
    if not all(0x21 <= ord(ch) <= 0x7E for ch in session):
        raise InvalidHeader(SESSION, f"{SESSION} may only contain printable ASCII without spaces", ERROR_CODE)
    return session
