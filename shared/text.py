"""Character classes the header parsers share."""

from typing import Final

ASCII_WHITESPACE: Final = " \t\n\r\x0b\x0c"


def has_control(text: str) -> bool:
    return any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)


def is_visible_ascii(text: str) -> bool:
    """Printable ASCII without spaces: what an identifier in a header may hold."""
    return all(0x21 <= ord(ch) <= 0x7E for ch in text)


def choice(value: str | None, choices: tuple[str, ...], default: str) -> str | None:
    """The value as one of ``choices`` (trimmed, case-insensitive), ``default`` when absent or blank,
    ``None`` when it is something else."""
    text = (value or "").strip(ASCII_WHITESPACE).lower() or default
    return text if text in choices else None
