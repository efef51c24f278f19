"""The one parser of ``X-Prism-Semantic``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import SEMANTIC
from shared.text import choice

ERROR_CODE: Final = "invalid_semantic_header"


def parse_semantic(value: str | None) -> bool | None:
    """``True`` for ``on``, ``False`` for ``off``, ``None`` (the project's default) when absent."""
    text = choice(value, ("on", "off", ""), "")
    if text is None:
        raise InvalidHeader(SEMANTIC, f"{SEMANTIC} must be 'on' or 'off'.", ERROR_CODE)
    return None if not text else text == "on"
