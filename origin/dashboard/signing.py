"""HMAC-SHA256 signing for the dashboard: session cookies and CSRF tokens, each under its own key.

Both keys derive from ``PRISM_DASHBOARD_SECRET``, so a CSRF token can never pass as a cookie.
"""

import base64
import binascii
import hmac
import json
import secrets
from dataclasses import dataclass
from typing import Final

SESSION_SECONDS: Final = 12 * 3600


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_nonce() -> str:
    return secrets.token_urlsafe(18)


@dataclass(frozen=True, slots=True)
class Session:
    """What the cookie carries. ``nonce`` is new at each sign-in; the session's CSRF token binds to it."""

    user_id: str
    org_id: str
    expires_at: int
    nonce: str


class Signer:
    def __init__(self, secret: str) -> None:
        root = secret.encode()
        self._session_key = hmac.digest(root, b"prism dashboard session", "sha256")
        self._csrf_key = hmac.digest(root, b"prism dashboard csrf", "sha256")

    def seal(self, session: Session) -> str:
        payload = json.dumps(
            {"u": session.user_id, "o": session.org_id, "e": session.expires_at, "n": session.nonce},
            separators=(",", ":"),
        ).encode()
        return f"{_b64(payload)}.{_b64(hmac.digest(self._session_key, payload, 'sha256'))}"

    def open(self, cookie: str, *, now: float) -> Session | None:
        """The session in a cookie this secret signed and that has not expired, else None."""
        payload_text, _, signature_text = cookie.partition(".")
        try:
            payload, signature = _unb64(payload_text), _unb64(signature_text)
        except (binascii.Error, ValueError):
            return None
        if not hmac.compare_digest(hmac.digest(self._session_key, payload, "sha256"), signature):
            return None
        try:
            fields = json.loads(payload)
            session = Session(str(fields["u"]), str(fields["o"]), int(fields["e"]), str(fields["n"]))
        except (ValueError, KeyError, TypeError):
            return None
        return session if session.expires_at > now else None

    def csrf_token(self, purpose: str, nonce: str) -> str:
        return _b64(hmac.digest(self._csrf_key, f"{purpose}|{nonce}".encode(), "sha256"))

    def csrf_valid(self, token: str | None, purpose: str, nonce: str | None) -> bool:
        if not token or not nonce:
            return False
        return hmac.compare_digest(token.encode(), self.csrf_token(purpose, nonce).encode())
