"""The console's pages (Jinja2, server-rendered; htmx only refreshes the live tiles). Handlers call the
services and render; writes are plain HTML form posts with the session's CSRF token, then a redirect."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote, urlparse
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..register.models import ASSET_STATUSES, ASSET_TYPES
from ..register.service import AssetFilter
from ..services import Invalid, PageRequest
from ..services.assets import RoomPlace
from ..services.devices import DeviceFilter, DeviceTile
from ..services.tickets import ACTIONS, SOURCES, TEACHER_PROBLEMS, TicketFilter, TicketView
from .app import lang_of, render
from .auth import (
    LANG_COOKIE,
    SESSION_COOKIE,
    Principal,
    anon_id,
    anon_token,
    check_anon_csrf,
    client_of,
    ctx_of,
    make_session,
    need,
    principal,
    set_anon_cookie,
    set_session_cookie,
)
from .charts import line_chart
from .i18n import LANGS, N_, gettext_for

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(need("viewer"))]
Technician = Annotated[Principal, Depends(need("technician"))]
Admin = Annotated[Principal, Depends(need("admin"))]
RANGES = {"24h": 24.0, "7d": 168.0}
#: (metric, title, unit, fixed maximum) of the device page's charts
CHARTS = (
    ("cpu_usage_percent", N_("CPU %"), "%", 100.0),
    ("memory_used_percent", N_("Memory %"), "%", 100.0),
    ("disk_used_percent", N_("Disk used %"), "%", 100.0),
    ("net_rx_bytes_per_second", N_("Network received (bytes/s)"), "bytes/s", None),
    ("net_tx_bytes_per_second", N_("Network sent (bytes/s)"), "bytes/s", None),
)


def _safe_next(target: str) -> str:
    """Only paths on this site (no open redirect)."""
    u = urlparse(target)
    if u.scheme or u.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- login -----------------------------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/", error: str = "") -> Response:
    ctx = ctx_of(request)
    anon, fresh = anon_id(request)
    response = render(
        request, "login.html", next=_safe_next(next), error=error, form_token=anon_token(ctx, anon)
    )
    if fresh:
        set_anon_cookie(response, anon, _secure(request))
    return response


@router.post("/login")
async def login(
    request: Request,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    await check_anon_csrf(request)
    ctx = ctx_of(request)
    _ = gettext_for(lang_of(request))
    client = client_of(request)
    wait = ctx.throttle.locked_for(username, client)
    if wait > 0:
        msg = _("Too many wrong passwords. Try again in %(minutes)d minutes.") % {
            "minutes": int(wait // 60) + 1
        }
        return _relogin(request, next, msg, 429)
    user = await run_in_threadpool(ctx.users.authenticate, username, password)
    if user is None:
        ctx.throttle.failed(username, client)
        return _relogin(request, next, _("Wrong user name or password."), 401)
    ctx.throttle.succeeded(username, client)
    response = _see(_safe_next(next))
    set_session_cookie(ctx, response, make_session(ctx, user), _secure(request))
    return response


def _relogin(request: Request, next: str, error: str, status: int) -> Response:
    ctx = ctx_of(request)
    anon, _fresh = anon_id(request)
    return render(
        request,
        "login.html",
        status_code=status,
        next=_safe_next(next),
        error=error,
        form_token=anon_token(ctx, anon),
    )


@router.post("/logout")
def logout(request: Request, p: Viewer) -> Response:
    response = _see("/login")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/lang/{lang}")
def set_lang(request: Request, lang: str, next: str = "/") -> Response:
    response = _see(_safe_next(next))
    if lang in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax", path="/")
    return response


# -- overview, rooms, devices -----------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def overview(request: Request, p: Viewer, campus: str | None = None) -> Response:
    ctx = ctx_of(request)
    overdue = ctx.overdue()
    if campus:
        overdue = [e for e in overdue if campus in (e.target.campus, e.target.campus_code)]
    return render(
        request, "overview.html", ov=ctx.devices.overview(campus), campus=campus or "", overdue=overdue
    )


@router.get("/fragments/overview", response_class=HTMLResponse)
def overview_tiles(request: Request, p: Viewer, campus: str | None = None) -> Response:
    ctx = ctx_of(request)
    return render(request, "_tiles.html", ov=ctx.devices.overview(campus), campus=campus or "")


@router.get("/rooms/{room_id}", response_class=HTMLResponse)
def room(request: Request, p: Viewer, room_id: int) -> Response:
    import qrcode
    import qrcode.image.svg

    ctx = ctx_of(request)
    place = ctx.assets.room(room_id)
    tiles = [
        t
        for t in ctx.devices.tiles(DeviceFilter(room=place.room, building=place.building))
        if t.campus in (place.campus, place.campus_code)
    ]
    tickets = ctx.tickets.room_tickets(place.campus_code, place.path, [t.device for t in tiles])
    url = f"{ctx.public_url(str(request.base_url))}/r/{ctx.assets.room_token(room_id)}"
    qr = qrcode.make(url, image_factory=qrcode.image.svg.SvgPathImage, box_size=8, border=2)
    svg = qr.to_string(encoding="unicode")
    return render(request, "room.html", place=place, tiles=tiles, tickets=tickets, report_url=url, qr_svg=svg)


@router.post("/rooms/{room_id}/token")
def rotate_token(request: Request, p: Admin, room_id: int) -> Response:
    ctx_of(request).assets.rotate_room_token(room_id, actor=p.actor(request))
    return _see(f"/rooms/{room_id}")


@router.get("/devices/{campus}/{device}", response_class=HTMLResponse)
def device(request: Request, p: Viewer, campus: str, device: str, range: str = "24h") -> Response:
    ctx = ctx_of(request)
    detail = ctx.devices.get(campus, device)
    hours = RANGES.get(range, 24.0)
    tz = ZoneInfo(ctx.config.schedule.timezone)
    _ = gettext_for(lang_of(request))
    until = ctx.devices.clock()
    charts = []
    for metric, title, unit, top in CHARTS:
        points = ctx.devices.series(campus, device, metric, hours=hours, checked=True)  # get() did
        charts.append(
            (
                _(title),
                line_chart(
                    points,
                    title=_(title),
                    unit=unit,
                    since=until - hours * 3600,
                    until=until,
                    tz=tz,
                    fixed_max=top,
                    empty_text=_("no data"),
                ),
            )
        )
    return render(request, "device.html", d=detail, charts=charts, range=range if range in RANGES else "24h")


# -- tickets ------------------------------------------------------------------------------------------
@router.get("/tickets", response_class=HTMLResponse)
def tickets(
    request: Request,
    p: Viewer,
    status: str = "active",
    severity: str = "",
    source: str = "",
    campus: str = "",
    q: Annotated[str, Query(max_length=100)] = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    ctx = ctx_of(request)
    flt = TicketFilter(
        status=[status] if status not in ("active", "all", "") else [],
        active=status == "active",
        severity=[severity] if severity else [],
        source=source if source in SOURCES else None,
        campus=campus or None,
        search=q or None,
    )
    result = ctx.tickets.page(flt, PageRequest(page, 50))
    return render(
        request,
        "tickets.html",
        result=result,
        status=status,
        severity=severity,
        source=source,
        q=q,
        sources=SOURCES,
        query=f"status={quote(status)}&severity={quote(severity)}&source={quote(source)}&q={quote(q)}",
    )


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket(request: Request, p: Viewer, ticket_id: int) -> Response:
    ctx = ctx_of(request)
    people = [u for u in ctx.users.all() if u.role in ("technician", "admin") and not u.disabled]
    return render(request, "ticket.html", d=ctx.tickets.get(ticket_id), people=people)


@router.post("/tickets/{ticket_id}/act")
def ticket_act(
    request: Request,
    p: Technician,
    ticket_id: int,
    action: Annotated[str, Form()],
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    if action not in ACTIONS:
        raise Invalid(f"unknown action {action!r}")
    ctx_of(request).tickets.act(ticket_id, action, actor=p.actor(request), note=note)
    return _see(f"/tickets/{ticket_id}")


@router.post("/tickets/{ticket_id}/note")
def ticket_note(
    request: Request, p: Technician, ticket_id: int, text: Annotated[str, Form(min_length=1, max_length=4000)]
) -> Response:
    ctx_of(request).tickets.note(ticket_id, text, actor=p.actor(request))
    return _see(f"/tickets/{ticket_id}")


@router.post("/tickets/{ticket_id}/assign")
def ticket_assign(
    request: Request, p: Technician, ticket_id: int, assignee: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    ctx = ctx_of(request)
    if assignee:
        ctx.users.get(assignee)
    ctx.tickets.assign(ticket_id, assignee, actor=p.actor(request))
    return _see(f"/tickets/{ticket_id}")


# -- asset register -----------------------------------------------------------------------------------
@router.get("/assets", response_class=HTMLResponse)
def assets(
    request: Request,
    p: Viewer,
    q: Annotated[str, Query(max_length=200)] = "",
    type: str = "",
    status: str = "",
    room: str = "",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> Response:
    ctx = ctx_of(request)
    flt = AssetFilter(room=room or None, type=type or None, status=status or None, search=q or None)
    result = ctx.assets.page(flt, PageRequest(page, 50))
    query = f"q={quote(q)}&type={quote(type)}&status={quote(status)}&room={quote(room)}"
    return render(
        request,
        "assets.html",
        result=result,
        q=q,
        type=type,
        status=status,
        room=room,
        types=ASSET_TYPES,
        statuses=ASSET_STATUSES,
        query=query,
        reviews=len(ctx.assets.reviews()),
    )


@router.get("/assets/import", response_class=HTMLResponse)
def import_page(request: Request, p: Admin) -> Response:
    return render(request, "import.html", report=None)


@router.post("/assets/import", response_class=HTMLResponse)
async def import_upload(
    request: Request,
    p: Admin,
    file: Annotated[UploadFile, File()],
    mode: Annotated[str, Form()] = "check",
) -> Response:
    from .uploads import read_upload

    ctx = ctx_of(request)
    data = await read_upload(file)
    report = await run_in_threadpool(
        ctx.assets.import_file,
        data,
        file.filename or "upload.csv",
        actor=p.actor(request),
        dry_run=mode != "import",
    )
    return render(request, "import.html", report=report)


@router.get("/assets/reviews", response_class=HTMLResponse)
def reviews(request: Request, p: Viewer) -> Response:
    return render(request, "reviews.html", reviews=ctx_of(request).assets.reviews())


@router.post("/assets/reviews/{review_id}/{decision}")
def review_decide(request: Request, p: Admin, review_id: int, decision: str) -> Response:
    ctx = ctx_of(request)
    if decision == "merge":
        ctx.assets.merge(review_id, actor=p.actor(request))
    elif decision == "dismiss":
        ctx.assets.dismiss(review_id, actor=p.actor(request))
    else:
        raise Invalid("merge or dismiss")
    return _see("/assets/reviews")


@router.get("/assets/{asset_id}", response_class=HTMLResponse)
def asset(request: Request, p: Viewer, asset_id: int) -> Response:
    ctx = ctx_of(request)
    return render(
        request,
        "asset.html",
        a=ctx.assets.get(asset_id),
        history=ctx.assets.history(asset_id),
        types=ASSET_TYPES,
        statuses=ASSET_STATUSES,
    )


@router.post("/assets/{asset_id}")
async def asset_edit(request: Request, p: Technician, asset_id: int) -> Response:
    from ..register.fields import EDITABLE

    ctx = ctx_of(request)
    form = await request.form()
    values = {k: str(v)[:2000] for k, v in form.items() if k in EDITABLE and isinstance(v, str)}
    room_raw = form.get("room")
    room = str(room_raw) if isinstance(room_raw, str) else None
    current = await run_in_threadpool(ctx.assets.get, asset_id)
    shown_room = f"{current.asset.building}/{current.asset.room}" if current.asset.room else ""
    if room is not None and room.strip() == shown_room:
        room = None
    changed = {
        k: v
        for k, v in values.items()
        if (str(getattr(current.asset, k, getattr(current, k, "")) or "")) != v
    }
    await run_in_threadpool(lambda: ctx.assets.update(asset_id, changed, actor=p.actor(request), room=room))
    return _see(f"/assets/{asset_id}")


# -- switches -----------------------------------------------------------------------------------------
@router.get("/switches", response_class=HTMLResponse)
def switches(request: Request, p: Viewer) -> Response:
    return render(request, "switches.html", tiles=ctx_of(request).devices.switches())


@router.get("/switches/{campus}/{device}", response_class=HTMLResponse)
def switch(request: Request, p: Viewer, campus: str, device: str) -> Response:
    return render(request, "switch.html", sw=ctx_of(request).devices.switch(campus, device))


# -- admin ---------------------------------------------------------------------------------------------
@router.get("/admin/users", response_class=HTMLResponse)
def users(request: Request, p: Admin) -> Response:
    return render(request, "users.html", users=ctx_of(request).users.all(), error="")


@router.post("/admin/users")
def add_user(
    request: Request,
    p: Admin,
    username: Annotated[str, Form(max_length=64)],
    password: Annotated[str, Form(max_length=1024)],
    role: Annotated[str, Form()],
    display_name: Annotated[str, Form(max_length=100)] = "",
) -> Response:
    ctx_of(request).users.add(username, password, role, actor=p.actor(request), display_name=display_name)
    return _see("/admin/users")


@router.post("/admin/users/{username}/disable")
def disable_user(
    request: Request, p: Admin, username: str, disabled: Annotated[str, Form()] = "1"
) -> Response:
    ctx = ctx_of(request)
    if username == p.user.username:
        raise Invalid("you cannot disable yourself")
    ctx.users.set_disabled(username, disabled == "1", actor=p.actor(request))
    return _see("/admin/users")


@router.get("/admin/audit", response_class=HTMLResponse)
def audit(request: Request, p: Admin, page: Annotated[int, Query(ge=1, le=100_000)] = 1) -> Response:
    return render(request, "audit.html", result=ctx_of(request).users.audit_log(PageRequest(page, 100)))


# -- teacher fault report (no account) --------------------------------------------------------------
def _teacher_context(request: Request, token: str) -> tuple[RoomPlace, list[DeviceTile], list[TicketView]]:
    ctx = ctx_of(request)
    place = ctx.assets.room_by_token(token)
    if place is None:
        from starlette.exceptions import HTTPException

        raise HTTPException(
            404, "This QR code is no longer valid. Ask the IT office for the room's new code."
        )
    tiles = [
        t
        for t in ctx.devices.tiles(DeviceFilter(room=place.room, building=place.building))
        if t.campus in (place.campus, place.campus_code)
    ]
    tickets = ctx.tickets.room_tickets(place.campus_code, place.path, [t.device for t in tiles], limit=10)
    return place, tiles, tickets


@router.get("/r/{token}", response_class=HTMLResponse)
def teacher_form(request: Request, token: str, sent: int | None = None, error: str = "") -> Response:
    ctx = ctx_of(request)
    place, tiles, tickets = _teacher_context(request, token)
    anon, fresh = anon_id(request)
    # a logged-in technician who scans the room's code is offered the room's inspection
    staff = principal(request)
    inspector = staff.user.shown if staff is not None and staff.user.can("technician") else ""
    response = render(
        request,
        "teacher.html",
        place=place,
        tiles=tiles,
        tickets=tickets,
        problems=TEACHER_PROBLEMS,
        form_token=anon_token(ctx, anon),
        sent=sent,
        error=error,
        token=token,
        me=None,
        inspector=inspector,
        problem_labels=PROBLEM_LABELS,
    )
    if fresh:
        set_anon_cookie(response, anon, _secure(request))
    return response


@router.post("/r/{token}")
async def teacher_report(
    request: Request,
    token: str,
    problem: Annotated[str, Form()],
    device: Annotated[str, Form(max_length=64)] = "",
    text: Annotated[str, Form(max_length=1000)] = "",
    name: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    await check_anon_csrf(request)
    ctx = ctx_of(request)
    place, tiles, _tickets = await run_in_threadpool(_teacher_context, request, token)
    _ = gettext_for(lang_of(request))
    names = {t.device: t for t in tiles}
    if device and device not in names:
        raise Invalid("that device is not in this room")
    if problem not in TEACHER_PROBLEMS:
        raise Invalid("choose what is wrong")
    if not ctx.room_limit.allow(place.id):
        return _see(f"/r/{token}?error=rate")
    site = gettext_for(ctx.http.language)
    what = site(PROBLEM_LABELS[problem])
    where = names[device].name if device else place.path
    summary = f"{site(N_('Teacher report'))}: {what} — {where}"
    outcome = await run_in_threadpool(
        lambda: ctx.tickets.teacher_report(
            campus=place.campus_code,
            room=place.path,
            device=device,
            problem=problem,
            text=text,
            name=name,
            summary=summary,
            client=client_of(request),
        )
    )
    return _see(f"/r/{token}?sent={outcome.ticket_id}")


#: the words a teacher sees (translated by the catalog)
PROBLEM_LABELS = {
    "no_picture": N_("No picture"),
    "no_sound": N_("No sound"),
    "touch": N_("Touch not working"),
    "document_camera": N_("Document camera not working"),
    "network": N_("No network"),
    "wont_start": N_("Computer won't start"),
    "other": N_("Something else"),
}
