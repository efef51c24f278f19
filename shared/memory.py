"""The one parser of ``X-Prism-Memory``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import MEMORY
from shared.text import choice

MODES: Final = ("auto", "off")
DEFAULT: Final = "auto"
ERROR_CODE: Final = "invalid_memory_header"


def parse_memory(value: str | None) -> str:
    """``auto`` (the default) or ``off``, or ``InvalidHeader``. Memory also needs a session."""
    mode = choice(value, MODES, DEFAULT)
    if mode is None:
        raise InvalidHeader(MEMORY, f"{MEMORY} must be one of {', '.join(MODES)}.", ERROR_CODE)
    return mode
