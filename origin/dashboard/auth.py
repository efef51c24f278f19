"""Who is signed in: the session cookie, checked against its signature, its expiry and the users table."""

import time
from dataclasses import dataclass
from typing import Final

from starlette.requests import Request

from origin.dashboard.signing import Session, Signer
from origin.state import AppState
from origin.stores import users
from origin.stores.users import Member

SESSION_COOKIE: Final = "prism_session"
SESSION_FORMS: Final = "session"  # the CSRF purpose of every form a signed-in page shows


@dataclass(frozen=True, slots=True)
class Viewer:
    member: Member
    session: Session
    csrf: str  # the token this session's forms carry


def app_state(request: Request) -> AppState:
    state: AppState = request.app.state.prism
    return state


def signer(request: Request) -> Signer:
    return Signer(app_state(request).settings.dashboard_secret)


async def signed_in(request: Request) -> Viewer | None:
    """The viewer, or None; a user removed since sign-in is signed out at their next request."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    sign = signer(request)
    session = sign.open(cookie, now=time.time())
    if session is None:
        return None
    member = await users.member(app_state(request).pool, session.user_id, session.org_id)
    if member is None:
        return None
    return Viewer(member, session, sign.csrf_token(SESSION_FORMS, session.nonce))
