"""Sign-in and sign-out. The sign-in form's CSRF token is bound to a pre-session cookie; sign-out's to
the session. A wrong address and a wrong password get one answer, in the same time."""

import asyncio
import time
from typing import Any, Final

from redis.exceptions import RedisError
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from origin.dashboard.auth import SESSION_COOKIE, SESSION_FORMS, app_state, signed_in, signer
from origin.dashboard.passwords import UNKNOWN_USER_HASH, verify_password
from origin.dashboard.render import Renderer
from origin.dashboard.signing import SESSION_SECONDS, Session, new_nonce
from origin.dashboard.throttle import WINDOW_SECONDS, SignInThrottle
from origin.dashboard.views import LOGIN_PATH, error_page
from origin.stores import users

SIGNIN_COOKIE: Final = "prism_signin"
SIGNIN_FORMS: Final = "signin"
HOME: Final = "/dashboard"
MAX_FIELD: Final = 1024


def _field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value[:MAX_FIELD] if isinstance(value, str) else ""


def _next(target: str) -> str:
    """Only a dashboard path on this origin: never an open redirect."""
    ok = target.startswith(HOME) and not target.startswith("//") and "\\" not in target
    return target if ok else HOME


def _cookie(request: Request) -> dict[str, Any]:
    return {"httponly": True, "samesite": "lax", "secure": request.url.scheme == "https"}


def routes(renderer: Renderer) -> list[BaseRoute]:
    def form(
        request: Request, *, status: int = 200, message: str = "", email: str = "", target: str = HOME
    ) -> Response:
        nonce = request.cookies.get(SIGNIN_COOKIE) or new_nonce()
        context = {
            "title": "Sign in",
            "viewer": None,
            "csrf": signer(request).csrf_token(SIGNIN_FORMS, nonce),
            "message": message,
            "email": email,
            "next": target,
        }
        response = renderer.page(request, "login.html", context, status=status)
        response.set_cookie(SIGNIN_COOKIE, nonce, max_age=3600, path=LOGIN_PATH, **_cookie(request))
        return response

    async def show(request: Request) -> Response:
        if await signed_in(request) is not None:
            return RedirectResponse(HOME, status_code=303)
        return form(request, target=_next(request.query_params.get("next", HOME)))

    async def submit(request: Request) -> Response:
        fields = await request.form()
        email, password, target = (
            _field(fields, "email").strip(),
            _field(fields, "password"),
            _next(_field(fields, "next")),
        )
        if not signer(request).csrf_valid(
            _field(fields, "csrf"), SIGNIN_FORMS, request.cookies.get(SIGNIN_COOKIE)
        ):
            return error_page(
                renderer,
                request,
                None,
                403,
                "Form expired",
                "This sign-in form has expired. Reload the page and try again.",
            )
        state = app_state(request)
        client_ip = request.client.host if request.client else "unknown"
        try:
            admitted = await SignInThrottle(state.redis).admit(email, client_ip)
        except RedisError:
            return error_page(
                renderer, request, None, 503, "Sign-in unavailable", "Sign-in is unavailable; try again soon."
            )
        if not admitted:
            response = error_page(
                renderer,
                request,
                None,
                429,
                "Too many attempts",
                "Too many sign-in attempts for this address or from this network. "
                "Wait 15 minutes and try again.",
            )
            response.headers["Retry-After"] = str(WINDOW_SECONDS)
            return response
        credentials = await users.find_credentials(state.pool, email) if email else None
        stored = UNKNOWN_USER_HASH if credentials is None else credentials.password_hash
        matches = await asyncio.to_thread(verify_password, password, stored)
        if credentials is None or not matches:
            return form(
                request,
                status=401,
                message="That email and password do not match an account.",
                email=email,
                target=target,
            )
        session = Session(
            credentials.user_id, credentials.org_id, int(time.time()) + SESSION_SECONDS, new_nonce()
        )
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            SESSION_COOKIE,
            signer(request).seal(session),
            max_age=SESSION_SECONDS,
            path="/",
            **_cookie(request),
        )
        response.delete_cookie(SIGNIN_COOKIE, path=LOGIN_PATH)
        return response

    async def logout(request: Request) -> Response:
        viewer = await signed_in(request)
        fields = await request.form()
        if viewer is not None and not signer(request).csrf_valid(
            _field(fields, "csrf"), SESSION_FORMS, viewer.session.nonce
        ):
            return error_page(
                renderer,
                request,
                viewer,
                403,
                "Form expired",
                "This form has expired. Reload the page and try again.",
            )
        response = RedirectResponse(LOGIN_PATH, status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", **_cookie(request))
        return response

    return [
        Route(LOGIN_PATH, show, methods=["GET"]),
        Route(LOGIN_PATH, submit, methods=["POST"]),
        Route("/dashboard/logout", logout, methods=["POST"]),
    ]
