"""Where a request carries its Prism key: ``Authorization: Bearer``, or ``x-api-key`` as Anthropic's
clients send it. One reader, so both tiers accept the same requests."""

from collections.abc import Mapping


def authorization(headers: Mapping[str, str]) -> str | None:
    """The ``Authorization`` header's value, or an ``x-api-key`` said as a bearer token
    (``headers`` has lower-case names, or is case-insensitive)."""
    given = headers.get("authorization")
    if given:
        return given
    api_key = (headers.get("x-api-key") or "").strip()
    return f"Bearer {api_key}" if api_key else None
