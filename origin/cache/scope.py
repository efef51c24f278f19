"""Who shares a cached answer: the project (the default), each key, or each end user.

Isolation is a project's decision, not an accident of which headers a client sends. Under the end
user's scope a request names its user (OpenAI's ``safety_identifier``, or the older ``user``); one
that names none is neither served from the caches nor stored in them.
"""

from typing import Any

from origin.controls.policy import CacheScope
from shared.usage import UsageRow


def cache_scope(row: UsageRow, body: dict[str, Any], scope: CacheScope) -> str | None:
    """The scope the request's fingerprint and semantic entries live in; ``None``: no cache at all."""
    if scope == "project":
        return row.project_id
    if scope == "key":
        return f"{row.project_id}/key/{row.key_id}"
    user = body.get("safety_identifier") or body.get("user")
    return f"{row.project_id}/user/{user}" if isinstance(user, str) and user else None
