"""The values an operator gives, read one way whether they come as CLI options or admin API JSON.

Each reader takes text (or JSON) and returns the value or raises ``ValueError`` with a message
that names what is wrong; the CLI shows it as an argument error, the admin API as a 400.
"""

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Final

_SPAN: Final = re.compile(r"(\d+)([dhm])")
_UNITS: Final = {"d": "days", "h": "hours", "m": "minutes"}
MAX_CENTS: Final = Decimal(10) ** 10  # numeric(20, 10)
MAX_EMAIL: Final = 254
MIN_PASSWORD: Final = 10
MAX_PASSWORD: Final = 1024


def expiry(text: str) -> datetime:
    """A moment still to come: a span from now (``30d``, ``12h``, ``90m``) or an ISO date or time
    (UTC if it names no zone)."""
    if span := _SPAN.fullmatch(text.strip()):
        return datetime.now(UTC) + timedelta(**{_UNITS[span[2]]: int(span[1])})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is neither a span (30d, 12h, 90m) nor an ISO date or time (2027-01-31)"
        ) from None
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if moment <= datetime.now(UTC):
        raise ValueError(f"{text!r} is already past")
    return moment


def positive(text: str | int) -> int:
    """A whole number of at least 1 (a limit: requests or tokens per minute, cents)."""
    try:
        value = 0 if isinstance(text, bool | float) else int(text)
    except ValueError:
        value = 0
    if value < 1 or value >= 2**31:
        raise ValueError(f"{text!r} is not a positive whole number")
    return value


def model_globs(text: str) -> tuple[str, ...]:
    """Model names or globs, comma-separated: ``gpt-4o*,claude-*``."""
    globs = tuple(part.strip() for part in text.split(",") if part.strip())
    if not globs:
        raise ValueError("give at least one model name or glob, e.g. 'gpt-4o*,claude-*'")
    return globs


def monthly_cents(text: str | int | float) -> Decimal:
    try:
        value = Decimal(str(text)) if not isinstance(text, bool) else Decimal("NaN")
    except InvalidOperation:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite() or not 0 <= value < MAX_CENTS:
        raise ValueError(f"{text!r} is not between 0 and {MAX_CENTS}")
    return value


def email(text: str) -> str:
    text = text.strip()
    local, at, domain = text.rpartition("@")
    if not at or not local or "." not in domain or len(text) > MAX_EMAIL or any(c.isspace() for c in text):
        raise ValueError(f"{text!r} is not an email address")
    return text


def password(text: str) -> str:
    if not MIN_PASSWORD <= len(text) <= MAX_PASSWORD:
        raise ValueError(f"a password has {MIN_PASSWORD} to {MAX_PASSWORD} characters")
    return text
