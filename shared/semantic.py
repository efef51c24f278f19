"""The one parser of ``X-Prism-Semantic``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import SEMANTIC
from shared.text import ASCII_WHITESPACE

ERROR_CODE: Final = "invalid_semantic_header"


def parse_semantic(value: str | None) -> bool | None:
    """``True`` for ``on``, ``False`` for ``off``, ``None`` (the project's default) when absent."""
    text = (value or "").strip(ASCII_WHITESPACE).lower()
    if not text:
        return None
    if text not in ("on", "off"):
        raise InvalidHeader(SEMANTIC, f"{SEMANTIC} must be 'on' or 'off'.", ERROR_CODE)
    return text == "on"
