"""The one parser of ``X-Prism-Tags: k=v,k2=v2``."""

from typing import Final

from shared.text import ASCII_WHITESPACE, has_control

MAX_TAGS: Final = 10
MAX_LENGTH: Final = 64


def parse_tags(value: str | None) -> dict[str, str] | None:
    """Parse the tag header leniently: bad pairs are dropped, never raised on."""
    if not value:
        return None
    tags: dict[str, str] = {}
    for piece in value.split(","):
        key, sep, val = piece.partition("=")
        if not sep:
            continue
        key = key.strip(ASCII_WHITESPACE)
        val = val.strip(ASCII_WHITESPACE)
        if not key or not val or has_control(key) or has_control(val):
            continue
        key, val = key[:MAX_LENGTH], val[:MAX_LENGTH]
        if key in tags:
            continue
        tags[key] = val
        if len(tags) == MAX_TAGS:
            break
    return tags or None


def format_tags(tags: dict[str, str]) -> str:
    """Serialise tags back to header form (the inverse of ``parse_tags`` on its own output)."""
    return ",".join(f"{key}={val}" for key, val in tags.items())
