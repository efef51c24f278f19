"""The one parser of ``X-Prism-Memory``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import MEMORY
from shared.text import ASCII_WHITESPACE

MODES: Final = ("auto", "off")
DEFAULT: Final = "auto"
ERROR_CODE: Final = "invalid_memory_header"


def parse_memory(value: str | None) -> str:
    """``auto`` (the default) or ``off``, or ``InvalidHeader``. Memory also needs a session."""
    mode = (value or "").strip(ASCII_WHITESPACE).lower() or DEFAULT
    if mode not in MODES:
        raise InvalidHeader(MEMORY, f"{MEMORY} must be one of {', '.join(MODES)}.", ERROR_CODE)
    return mode
