"""The FastAPI application: routers, vendored static files, templates per language, error handling.

Errors of the JSON API are RFC 9457 problem details (`application/problem+json`); pages get an HTML
error page, and an anonymous visitor of a page is sent to the login page.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from campusmon import __version__

from ..inspections.service import InspectionError
from ..services import Conflict, Invalid, NotFound
from ..services.assets import MAX_UPLOAD_BYTES
from ..services.photos import MAX_PHOTO_BYTES
from .auth import LANG_COOKIE, Forbidden, Unauthenticated, principal
from .context import WebContext
from .i18n import LANGS, translations

_log = logging.getLogger(__name__)
HERE = Path(__file__).parent
STATIC = HERE / "static"
TEMPLATES = HERE / "templates"
PROBLEM = "application/problem+json"
#: the largest request body: the biggest upload (a photo or a spreadsheet) and its form fields
MAX_BODY_BYTES = max(MAX_UPLOAD_BYTES, MAX_PHOTO_BYTES) + 1024 * 1024
_TITLES = {
    400: "Bad request",
    401: "Not logged in",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid request",
    429: "Too many requests",
    500: "Server error",
}


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def problem(request: Request, status: int, detail: str, **extra: Any) -> JSONResponse:
    body = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    headers = {"WWW-Authenticate": 'Bearer realm="campusmon"'} if status == 401 else None
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def lang_of(request: Request) -> str:
    lang = request.cookies.get(LANG_COOKIE, "")
    if lang in LANGS:
        return lang
    ctx: WebContext = request.app.state.ctx
    return ctx.http.language


def _environment(lang: str, tz: ZoneInfo) -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(TEMPLATES)),
        autoescape=select_autoescape(("html", "svg", "xml")),
        extensions=["jinja2.ext.i18n"],
        auto_reload=False,
        cache_size=400,
    )
    env.install_gettext_translations(translations(lang), newstyle=True)  # type: ignore[attr-defined]

    def local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
        return "–" if value is None else value.astimezone(tz).strftime(fmt)

    env.filters["local"] = local
    env.globals["lang"] = lang
    env.globals["version"] = __version__
    return Jinja2Templates(env=env)


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    lang = lang_of(request)
    templates: dict[str, Jinja2Templates] = request.app.state.templates
    p = principal(request)
    ctx: WebContext = request.app.state.ctx
    values.setdefault("me", p.user if p else None)
    values.setdefault("csrf", p.csrf if p and p.via == "session" else "")
    values.setdefault("poll_seconds", ctx.http.poll_seconds)
    return templates[lang].TemplateResponse(request, name, values, status_code=status_code)


class BodyLimit:
    """Refuses, before reading it, a request whose declared body is larger than any form takes (the
    largest are a photo and a spreadsheet): 413 as problem details. Plain ASGI: nothing per request
    beyond one header lookup."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                    detail = f"the request is larger than {self.limit // 1024 // 1024} MiB"
                    body = {"type": "about:blank", "title": _TITLES[413], "status": 413, "detail": detail}
                    await JSONResponse(body, status_code=413, media_type=PROBLEM)(scope, receive, send)
                    return
        await self.app(scope, receive, send)


def create_app(ctx: WebContext) -> FastAPI:
    from . import api, inspect_pages, ops, pages

    app = FastAPI(
        title="campusmon",
        version=__version__,
        description="Monitoring, fault tickets and asset register for school campuses.",
        docs_url="/api/docs",
        redoc_url=None,
        openapi_url="/api/v1/openapi.json",
    )
    app.state.ctx = ctx
    tz = ZoneInfo(ctx.config.schedule.timezone)
    app.state.templates = {lang: _environment(lang, tz) for lang in LANGS}
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    app.include_router(api.router)
    app.include_router(ops.router)
    app.include_router(pages.router)
    app.include_router(inspect_pages.router)
    app.add_middleware(BodyLimit, limit=MAX_BODY_BYTES)

    def page_error(request: Request, status: int, detail: str) -> Response:
        return render(request, "error.html", status_code=status, status=status, detail=detail)

    @app.exception_handler(Unauthenticated)
    async def _unauthenticated(request: Request, exc: Unauthenticated) -> Response:
        if is_api(request):
            return problem(request, 401, "log in, or send an API token: Authorization: Bearer cmt_…")
        target = quote(str(request.url.path) + (f"?{request.url.query}" if request.url.query else ""))
        if request.headers.get("hx-request"):
            return Response(status_code=401, headers={"HX-Redirect": f"/login?next={target}"})
        return RedirectResponse(f"/login?next={target}", status_code=303)

    @app.exception_handler(Forbidden)
    async def _forbidden(request: Request, exc: Forbidden) -> Response:
        if is_api(request):
            return problem(request, 403, exc.detail)
        return page_error(request, 403, exc.detail)

    @app.exception_handler(PermissionError)
    async def _permission(request: Request, exc: PermissionError) -> Response:
        if is_api(request):
            return problem(request, 403, str(exc))
        return page_error(request, 403, str(exc))

    for kind, status in ((NotFound, 404), (Invalid, 422), (Conflict, 409), (InspectionError, 422)):

        async def _service_error(request: Request, exc: Exception, status: int = status) -> Response:
            if is_api(request):
                return problem(request, status, str(exc))
            return page_error(request, status, str(exc))

        app.add_exception_handler(kind, _service_error)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(p) for p in e.get("loc", ())], "msg": str(e.get("msg", ""))} for e in exc.errors()
        ]
        detail = "; ".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        if is_api(request):
            return problem(request, 422, detail, errors=errors)
        return page_error(request, 422, detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if is_api(request) or request.url.path.startswith("/static/"):
            return problem(request, exc.status_code, str(exc.detail), **({} if not exc.headers else {}))
        return page_error(request, exc.status_code, str(exc.detail))

    return app
