"""The JSON API, /api/v1: thin handlers over the service layer (no SQL here). OpenAPI at
/api/v1/openapi.json, browsable at /api/docs. Lists are paginated (`page`, `per_page` ≤ 200)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Generic, Literal, TypeVar

from fastapi import APIRouter, Depends, File, Query, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field

from ..register.service import AssetFilter
from ..services import Invalid, Page, PageRequest
from ..services.assets import (
    AssetChange,
    AssetDetail,
    AssetView,
    CampusNode,
    ImportResult,
    ReviewView,
    RoomPlace,
)
from ..services.devices import DeviceDetail, DeviceFilter, DeviceTile, Overview, SwitchView
from ..services.probes import ProbeTargetView
from ..services.series import SeriesPoint
from ..services.tickets import ACTIONS, TicketDetail, TicketFilter, TicketView
from ..services.users import AuditView, TokenView, UserView
from .auth import Principal, ctx_of, need

T = TypeVar("T")
router = APIRouter(prefix="/api/v1", tags=["api"])
Viewer = Annotated[Principal, Depends(need("viewer"))]
Technician = Annotated[Principal, Depends(need("technician"))]
Admin = Annotated[Principal, Depends(need("admin"))]
PageNo = Annotated[int, Query(ge=1, le=100_000)]
PerPage = Annotated[int, Query(ge=1, le=200)]
Action = Literal["ack", "start", "resolve", "close", "reopen"]
assert set(ACTIONS) == {"ack", "start", "resolve", "close", "reopen"}


class Paged(BaseModel, Generic[T]):
    items: list[T]
    total: int
    page: int
    per_page: int
    pages: int


def paged(p: Page[T]) -> Paged[T]:
    return Paged[T](items=list(p.items), total=p.total, page=p.page, per_page=p.per_page, pages=p.pages)


class NoteIn(BaseModel):
    note: str = Field("", max_length=4000)


class NoteText(BaseModel):
    text: str = Field(..., min_length=1, max_length=4000)


class AssignIn(BaseModel):
    assignee: str = Field("", max_length=64)


class TicketIn(BaseModel):
    campus: str = Field(..., min_length=1, max_length=64)
    summary: str = Field(..., min_length=1, max_length=500)
    device: str = Field("", max_length=64)
    room: str = Field("", max_length=64)
    severity: Literal["info", "warning", "critical"] = "warning"


class AssetIn(BaseModel):
    values: dict[str, str] = Field(default_factory=dict)
    #: BUILDING/ROOM or CAMPUS/BUILDING/ROOM
    room: str | None = Field(None, max_length=300)


class UserIn(BaseModel):
    username: str = Field(..., min_length=2, max_length=64)
    password: str = Field(..., min_length=10, max_length=1024)
    role: Literal["admin", "technician", "viewer"]
    display_name: str = Field("", max_length=100)


class TokenIn(BaseModel):
    name: str = Field("script", max_length=100)


class NewToken(BaseModel):
    token: TokenView
    #: shown once; only its hash is stored
    secret: str


class Me(BaseModel):
    user: UserView
    via: str


def _csv(values: Sequence[str] | None) -> list[str]:
    return [v for raw in values or [] for v in raw.split(",") if v]


# -- who am I --------------------------------------------------------------------------------------
@router.get("/me", response_model=Me)
def me(p: Viewer) -> Me:
    return Me(user=p.user, via=p.via)


# -- devices -----------------------------------------------------------------------------------------
@router.get("/overview", response_model=Overview)
def overview(request: Request, p: Viewer, campus: str | None = None) -> Overview:
    return ctx_of(request).devices.overview(campus)


@router.get("/devices", response_model=Paged[DeviceTile])
def devices(
    request: Request,
    p: Viewer,
    campus: str | None = None,
    building: str | None = None,
    room: str | None = None,
    type: str | None = None,
    status: Annotated[
        Literal["red", "amber", "green", "grey"] | None, Query(description="tile colour")
    ] = None,
    state: str | None = None,
    page: PageNo = 1,
    per_page: PerPage = 50,
) -> Paged[DeviceTile]:
    flt = DeviceFilter(campus, building, room, type, status, state)
    return paged(ctx_of(request).devices.page(flt, PageRequest(page, per_page)))


@router.get("/devices/{campus}/{device}", response_model=DeviceDetail)
def device(request: Request, p: Viewer, campus: str, device: str) -> DeviceDetail:
    return ctx_of(request).devices.get(campus, device)


@router.get("/devices/{campus}/{device}/series", response_model=list[SeriesPoint])
def device_series(
    request: Request,
    p: Viewer,
    campus: str,
    device: str,
    metric: Annotated[str, Query(pattern=r"^[a-z][a-z0-9_]{0,99}$")],
    hours: Annotated[float, Query(gt=0, le=24 * 31)] = 24,
    label: Annotated[list[str] | None, Query(description="k=v, repeatable")] = None,
) -> list[SeriesPoint]:
    labels = dict(item.split("=", 1) for item in label or [] if "=" in item)
    return ctx_of(request).devices.series(campus, device, metric, hours=hours, labels=labels)


@router.get("/switches", response_model=list[DeviceTile])
def switches(request: Request, p: Viewer) -> list[DeviceTile]:
    return ctx_of(request).devices.switches()


@router.get("/switches/{campus}/{device}", response_model=SwitchView)
def switch(request: Request, p: Viewer, campus: str, device: str) -> SwitchView:
    return ctx_of(request).devices.switch(campus, device)


@router.get("/probe-targets", response_model=list[ProbeTargetView])
def probe_targets(request: Request, p: Viewer, campus: str | None = None) -> list[ProbeTargetView]:
    return ctx_of(request).probes.targets(campus)


# -- tickets -----------------------------------------------------------------------------------------
@router.get("/tickets", response_model=Paged[TicketView])
def tickets(
    request: Request,
    p: Viewer,
    status: Annotated[list[str] | None, Query(description="open,acknowledged,…; repeatable")] = None,
    active: bool = False,
    campus: str | None = None,
    room: str | None = None,
    device: str | None = None,
    severity: Annotated[list[str] | None, Query()] = None,
    source: Literal["automatic", "manual", "teacher", "inspection"] | None = None,
    assignee: str | None = None,
    q: Annotated[str | None, Query(max_length=100)] = None,
    page: PageNo = 1,
    per_page: PerPage = 50,
) -> Paged[TicketView]:
    flt = TicketFilter(_csv(status), active, campus, room, device, _csv(severity), source, assignee, q)
    return paged(ctx_of(request).tickets.page(flt, PageRequest(page, per_page)))


@router.post("/tickets", response_model=TicketDetail, status_code=201)
def open_ticket(request: Request, p: Technician, body: TicketIn) -> TicketDetail:
    return ctx_of(request).tickets.open_manual(
        campus=body.campus,
        summary=body.summary,
        actor=p.actor(request),
        device=body.device,
        room=body.room,
        severity=body.severity,
    )


@router.get("/tickets/{ticket_id}", response_model=TicketDetail)
def ticket(request: Request, p: Viewer, ticket_id: int) -> TicketDetail:
    return ctx_of(request).tickets.get(ticket_id)


@router.post("/tickets/{ticket_id}/actions/{action}", response_model=TicketDetail)
def ticket_action(
    request: Request, p: Technician, ticket_id: int, action: Action, body: NoteIn | None = None
) -> TicketDetail:
    """ack → acknowledged, start → in_progress, resolve → resolved, close → closed, reopen → open."""
    return ctx_of(request).tickets.act(
        ticket_id, action, actor=p.actor(request), note=body.note if body else ""
    )


@router.post("/tickets/{ticket_id}/notes", response_model=TicketDetail)
def ticket_note(request: Request, p: Technician, ticket_id: int, body: NoteText) -> TicketDetail:
    return ctx_of(request).tickets.note(ticket_id, body.text, actor=p.actor(request))


@router.post("/tickets/{ticket_id}/assign", response_model=TicketDetail)
def ticket_assign(request: Request, p: Technician, ticket_id: int, body: AssignIn) -> TicketDetail:
    ctx = ctx_of(request)
    if body.assignee:
        ctx.users.get(body.assignee)  # 404 for a name that is nobody
    return ctx.tickets.assign(ticket_id, body.assignee, actor=p.actor(request))


# -- assets ------------------------------------------------------------------------------------------
def asset_filter(
    campus: str | None = None,
    building: str | None = None,
    room: str | None = None,
    type: str | None = None,
    status: str | None = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
    warranty_before: date | None = None,
) -> AssetFilter:
    return AssetFilter(campus, building, room, type, status, q, warranty_before)


Filter = Annotated[AssetFilter, Depends(asset_filter)]


@router.get("/assets", response_model=Paged[AssetView])
def assets(
    request: Request, p: Viewer, flt: Filter, page: PageNo = 1, per_page: PerPage = 50
) -> Paged[AssetView]:
    return paged(ctx_of(request).assets.page(flt, PageRequest(page, per_page)))


@router.post("/assets", response_model=AssetDetail, status_code=201)
def create_asset(request: Request, p: Admin, body: AssetIn) -> AssetDetail:
    return ctx_of(request).assets.create(body.values, actor=p.actor(request), room=body.room)


@router.get("/assets/export")
def export_assets(
    request: Request,
    p: Viewer,
    flt: Filter,
    format: Literal["csv", "xlsx"] = "xlsx",
    lang: Literal["zh-CN", "en"] = "zh-CN",
) -> Response:
    data = ctx_of(request).assets.export(flt, format, lang)
    media = (
        "text/csv; charset=utf-8"
        if format == "csv"
        else ("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    )
    return Response(
        data, media_type=media, headers={"Content-Disposition": f'attachment; filename="assets.{format}"'}
    )


@router.get("/assets/labels", response_class=Response)
def asset_labels(request: Request, p: Viewer, flt: Filter) -> Response:
    data = ctx_of(request).assets.labels(flt)
    return Response(
        data, media_type="application/pdf", headers={"Content-Disposition": 'inline; filename="labels.pdf"'}
    )


@router.post("/assets/import", response_model=ImportResult)
async def import_assets(
    request: Request, p: Admin, file: Annotated[UploadFile, File()], dry_run: bool = True
) -> ImportResult:
    """Dry run by default: every bad row by line number, nothing written. `dry_run=false` imports the
    good rows (all in one transaction)."""
    from .uploads import read_upload

    data = await read_upload(file)
    return ctx_of(request).assets.import_file(
        data, file.filename or "upload.csv", actor=p.actor(request), dry_run=dry_run
    )


@router.get("/assets/reviews", response_model=list[ReviewView])
def reviews(request: Request, p: Viewer) -> list[ReviewView]:
    return ctx_of(request).assets.reviews()


@router.post("/assets/reviews/{review_id}/merge")
def merge_review(request: Request, p: Admin, review_id: int) -> dict[str, int]:
    return {"kept": ctx_of(request).assets.merge(review_id, actor=p.actor(request))}


@router.post("/assets/reviews/{review_id}/dismiss", status_code=204)
def dismiss_review(request: Request, p: Admin, review_id: int) -> Response:
    ctx_of(request).assets.dismiss(review_id, actor=p.actor(request))
    return Response(status_code=204)


@router.get("/assets/{asset_id}", response_model=AssetDetail)
def asset(request: Request, p: Viewer, asset_id: int) -> AssetDetail:
    return ctx_of(request).assets.get(asset_id)


@router.patch("/assets/{asset_id}", response_model=AssetDetail)
def update_asset(request: Request, p: Technician, asset_id: int, body: AssetIn) -> AssetDetail:
    """Admins change every field; technicians location (room, position), status and notes."""
    return ctx_of(request).assets.update(asset_id, body.values, actor=p.actor(request), room=body.room)


@router.get("/assets/{asset_id}/history", response_model=list[AssetChange])
def asset_history(request: Request, p: Viewer, asset_id: int) -> list[AssetChange]:
    return ctx_of(request).assets.history(asset_id)


# -- rooms -------------------------------------------------------------------------------------------
@router.get("/rooms", response_model=list[CampusNode])
def rooms(request: Request, p: Viewer) -> list[CampusNode]:
    return ctx_of(request).assets.rooms_tree()


@router.get("/rooms/labels", response_class=Response)
def room_labels(request: Request, p: Technician) -> Response:
    """One QR label per room (its teacher report URL), 3 × 7 per A4 sheet."""
    ctx = ctx_of(request)
    data = ctx.assets.room_labels(ctx.public_url(str(request.base_url)))
    return Response(
        data, media_type="application/pdf", headers={"Content-Disposition": 'inline; filename="rooms.pdf"'}
    )


@router.get("/rooms/{room_id}", response_model=RoomPlace)
def room(request: Request, p: Viewer, room_id: int) -> RoomPlace:
    return ctx_of(request).assets.room(room_id)


@router.post("/rooms/{room_id}/token")
def rotate_room_token(request: Request, p: Admin, room_id: int) -> dict[str, str]:
    ctx = ctx_of(request)
    token = ctx.assets.rotate_room_token(room_id, actor=p.actor(request))
    return {"url": f"{ctx.public_url(str(request.base_url))}/r/{token}"}


# -- users and audit ---------------------------------------------------------------------------------
@router.get("/users", response_model=list[UserView])
def users(request: Request, p: Admin) -> list[UserView]:
    return ctx_of(request).users.all()


@router.post("/users", response_model=UserView, status_code=201)
def add_user(request: Request, p: Admin, body: UserIn) -> UserView:
    return ctx_of(request).users.add(
        body.username, body.password, body.role, actor=p.actor(request), display_name=body.display_name
    )


@router.post("/me/tokens", response_model=NewToken, status_code=201)
def new_token(request: Request, p: Technician, body: TokenIn) -> NewToken:
    if p.via != "session":
        raise Invalid("API tokens are made from a logged-in session or `campusmon users token`")
    view, secret = ctx_of(request).users.create_token(p.user.username, body.name, actor=p.actor(request))
    return NewToken(token=view, secret=secret)


@router.get("/audit", response_model=Paged[AuditView])
def audit_log(
    request: Request, p: Admin, actor: str | None = None, page: PageNo = 1, per_page: PerPage = 50
) -> Paged[AuditView]:
    return paged(ctx_of(request).users.audit_log(PageRequest(page, per_page), actor))
