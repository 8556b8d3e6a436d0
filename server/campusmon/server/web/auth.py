"""Who is asking: signed session cookies (HttpOnly, SameSite=Lax) or API bearer tokens; roles; CSRF.

Every unsafe request authenticated by the session cookie must carry the session's CSRF token (form
field `csrf_token` or header `X-CSRF-Token`); bearer tokens are not sent by browsers on their own, so
they need none. Anonymous forms (login, the teacher report) use a token bound to an anonymous cookie.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from fastapi import Request
from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.concurrency import run_in_threadpool

from ..services import Actor
from ..services.users import UserView
from .context import WebContext

SESSION_COOKIE = "campusmon_session"
ANON_COOKIE = "campusmon_anon"
LANG_COOKIE = "campusmon_lang"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class Unauthenticated(Exception):
    """No valid session or token: 401 for the API, a redirect to the login page for pages."""


class Forbidden(Exception):
    """Logged in, but the role does not allow it (or the CSRF token is missing or wrong)."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Principal:
    user: UserView
    #: "session" or "token"
    via: str
    csrf: str

    def actor(self, request: Request) -> Actor:
        return Actor(self.user.username, self.user.role, client_of(request))


def client_of(request: Request) -> str:
    return request.client.host if request.client else ""


def _serializer(ctx: WebContext, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(ctx.secret, salt=salt)


def ctx_of(request: Request) -> WebContext:
    ctx: WebContext = request.app.state.ctx
    return ctx


def make_session(ctx: WebContext, user: UserView) -> str:
    return _serializer(ctx, "session").dumps(
        {"u": user.id, "e": user.session_epoch, "c": secrets.token_urlsafe(24)}
    )


def set_session_cookie(ctx: WebContext, response: object, value: str, secure: bool) -> None:
    response.set_cookie(  # type: ignore[attr-defined]
        SESSION_COOKIE,
        value,
        max_age=int(ctx.http.session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=secure,
        path="/",
    )


def _from_session(ctx: WebContext, request: Request) -> Principal | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw or len(raw) > 4096:
        return None
    try:
        data = _serializer(ctx, "session").loads(raw, max_age=int(ctx.http.session_hours * 3600))
    except BadSignature:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = ctx.users.by_id(data["u"])
    if user is None or user.disabled or user.session_epoch != data.get("e"):
        return None
    return Principal(user, "session", str(data.get("c", "")))


def _from_token(ctx: WebContext, request: Request) -> Principal | None:
    header = request.headers.get("authorization", "")
    scheme, _, secret = header.partition(" ")
    if scheme.lower() != "bearer" or not secret:
        return None
    user = ctx.users.by_token(secret.strip())
    return None if user is None else Principal(user, "token", "")


def principal(request: Request) -> Principal | None:
    """The logged-in person (cached for the request), or None."""
    if "principal" in request.state._state:
        cached: Principal | None = request.state.principal
        return cached
    ctx = ctx_of(request)
    p = _from_token(ctx, request) if "authorization" in request.headers else _from_session(ctx, request)
    request.state.principal = p
    return p


async def _sent_token(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    ctype = request.headers.get("content-type", "")
    if ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


async def check_csrf(request: Request, expected: str) -> None:
    sent = await _sent_token(request)
    if not expected or not sent or not hmac.compare_digest(sent, expected):
        raise Forbidden("missing or wrong CSRF token: reload the page and try again")


def need(role: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency: the request's principal, who must hold `role` (viewer < technician < admin)."""

    async def dependency(request: Request) -> Principal:
        p = await run_in_threadpool(principal, request)  # a database read: off the event loop
        if p is None:
            raise Unauthenticated()
        if request.method not in SAFE_METHODS and p.via == "session":
            await check_csrf(request, p.csrf)
        if not p.user.can(role):
            raise Forbidden(f"this needs the {role} role")
        return p

    dependency.__name__ = f"need_{role}"
    return dependency


# -- anonymous forms (login, teacher report) ---------------------------------------------------
def anon_id(request: Request) -> tuple[str, bool]:
    """The anonymous cookie's value, and whether it must be set on the response."""
    value = request.cookies.get(ANON_COOKIE, "")
    if 16 <= len(value) <= 64:
        return value, False
    return secrets.token_urlsafe(18), True


def anon_token(ctx: WebContext, anon: str) -> str:
    return _serializer(ctx, "anon-form").dumps(anon)


def set_anon_cookie(response: object, value: str, secure: bool) -> None:
    response.set_cookie(  # type: ignore[attr-defined]
        ANON_COOKIE, value, max_age=86400 * 30, httponly=True, samesite="lax", secure=secure, path="/"
    )


async def check_anon_csrf(request: Request) -> None:
    ctx = ctx_of(request)
    sent = await _sent_token(request)
    anon = request.cookies.get(ANON_COOKIE, "")
    try:
        value = _serializer(ctx, "anon-form").loads(sent, max_age=86400)
    except BadSignature:
        raise Forbidden("missing or wrong form token: reload the page and try again") from None
    if not anon or not hmac.compare_digest(str(value), anon):
        raise Forbidden("missing or wrong form token: reload the page and try again")
