"""The one parser of ``X-Prism-Mode``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import DEFAULT_MODE, MODE, MODES
from shared.text import choice

ERROR_CODE: Final = "invalid_mode_header"


def parse_mode(value: str | None) -> str:
    """The routing mode (``balanced`` when absent or blank), or ``InvalidHeader``."""
    mode = choice(value, MODES, DEFAULT_MODE)
    if mode is None:
        raise InvalidHeader(MODE, f"{MODE} must be one of {', '.join(MODES)}.", ERROR_CODE)
    return mode
