"""The one parser of ``X-Prism-Mode``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import DEFAULT_MODE, MODE, MODES
from shared.text import ASCII_WHITESPACE

ERROR_CODE: Final = "invalid_mode_header"


def parse_mode(value: str | None) -> str:
    """The routing mode (``balanced`` when absent or blank), or ``InvalidHeader``."""
    mode = (value or "").strip(ASCII_WHITESPACE).lower() or DEFAULT_MODE
    if mode not in MODES:
        raise InvalidHeader(MODE, f"{MODE} must be one of {', '.join(MODES)}.", ERROR_CODE)
    return mode
