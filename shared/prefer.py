"""The one parser of ``X-Prism-Model-Prefer``."""

from typing import Final

from shared.errors import InvalidHeader
from shared.headers import MODEL_PREFER
from shared.text import ASCII_WHITESPACE, is_visible_ascii

MAX_LENGTH: Final = 128
ERROR_CODE: Final = "invalid_model_prefer_header"


def parse_model_prefer(value: str | None) -> str | None:
    """The preferred model name, ``None`` when absent or blank, or ``InvalidHeader``."""
    name = (value or "").strip(ASCII_WHITESPACE)
    if not name:
        return None
    if len(name) > MAX_LENGTH or not is_visible_ascii(name):
        raise InvalidHeader(
            MODEL_PREFER,
            f"{MODEL_PREFER} must be a model name of at most {MAX_LENGTH} printable ASCII characters.",
            ERROR_CODE,
        )
    return name
