"""Inspections in the console: what is due or overdue, and the technician's phone page for one round.

A technician scans the room's code (the teacher page offers them the inspection once they are logged
in), starts the round, and sees the checklist pre-filled from live data. Each item is confirmed or failed
with an optional note and photo; finishing opens tickets or notes the open ones exactly as
`campusmon inspections finish` does, through the same `InspectionService`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from ..inspections.models import ITEM_RESULTS
from ..inspections.service import InspectionError, InspectionView, ItemView
from ..services import Invalid
from ..services.photos import MAX_PHOTO_BYTES
from .app import lang_of, render
from .auth import Principal, ctx_of, need
from .evidence import evidence_in
from .i18n import N_

router = APIRouter(include_in_schema=False)
Viewer = Annotated[Principal, Depends(need("viewer"))]
Technician = Annotated[Principal, Depends(need("technician"))]

#: the words of the three results (translated by the catalog)
RESULT_LABELS = {
    "pass": N_("OK"),
    "fail": N_("Fault"),
    "skip": N_("Skipped"),
    "pending": N_("Not checked"),
}
STATUS_LABELS = {"overdue": N_("overdue"), "due": N_("due soon"), "ok": N_("up to date")}


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _lang(request: Request) -> str:
    return "en" if lang_of(request) == "en" else "zh"


def _invalid(exc: InspectionError) -> Invalid:
    return Invalid(str(exc))


def _groups(view: InspectionView) -> list[tuple[str, str, list[ItemView]]]:
    """Items by device, in checklist order: (asset label, device type, items)."""
    out: dict[str, tuple[str, str, list[ItemView]]] = {}
    for i in sorted(view.items, key=lambda i: i.position):
        out.setdefault(i.asset, (i.asset, i.device_type, []))[2].append(i)
    return list(out.values())


@router.get("/inspections", response_class=HTMLResponse)
def inspections(request: Request, p: Viewer, show: str = "due") -> Response:
    ctx = ctx_of(request)
    svc = ctx.inspections
    within = ctx.config.inspections.due_within_days
    entries = ctx.schedule()
    if show == "overdue":
        entries = [e for e in entries if e.status == "overdue"]
    elif show != "all":
        show = "due"
        entries = [e for e in entries if e.status != "ok" or e.in_progress]
    running = svc.rounds(status="in_progress", limit=50)
    return render(
        request,
        "inspections.html",
        entries=entries,
        running=running,
        show=show,
        within=within,
        plans=svc.plans.plans,
        status_labels=STATUS_LABELS,
        lang_code=_lang(request),
    )


@router.get("/rooms/{room_id}/inspect", response_class=HTMLResponse)
def room_inspect(request: Request, p: Technician, room_id: int) -> Response:
    """Where the room's code leads a logged-in technician: the plans that cover the room, with their
    due dates, and the button that starts (or resumes) the round."""
    ctx = ctx_of(request)
    place = ctx.assets.room(room_id)
    entries = ctx.inspections.schedule(room_id=room_id)
    if len(entries) == 1 and entries[0].in_progress:
        return _see(f"/inspections/{entries[0].in_progress}")
    return render(
        request,
        "inspect_room.html",
        where=f"{place.campus} · {place.building} · {place.room}",
        back=f"/rooms/{room_id}",
        entries=entries,
        plans=ctx.inspections.plans.plans,
        status_labels=STATUS_LABELS,
        lang_code=_lang(request),
    )


@router.post("/rooms/{room_id}/inspect")
def start(
    request: Request, p: Technician, room_id: int, plan: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    ctx = ctx_of(request)
    place = ctx.assets.room(room_id)
    try:
        view = ctx.inspections.start(
            actor=p.actor(request).label, room=f"{place.campus}/{place.path}", plan=plan or None
        )
    except InspectionError as exc:
        raise _invalid(exc) from None
    ctx.inspections_changed()  # the list shows it in progress
    return _see(f"/inspections/{view.id}")


@router.get("/assets/{asset_id}/inspect", response_class=HTMLResponse)
def asset_inspect(request: Request, p: Technician, asset_id: int) -> Response:
    """The inspection of one asset (network cabinets: a switch each)."""
    ctx = ctx_of(request)
    a = ctx.assets.get(asset_id).asset
    entries = [
        e for e in ctx.inspections.schedule() if e.target.kind == "asset" and e.target.asset_id == asset_id
    ]
    if len(entries) == 1 and entries[0].in_progress:
        return _see(f"/inspections/{entries[0].in_progress}")
    return render(
        request,
        "inspect_room.html",
        where=" · ".join(x for x in (a.building, a.room, a.asset_tag or a.name) if x),
        back=f"/assets/{asset_id}",
        entries=entries,
        plans=ctx.inspections.plans.plans,
        status_labels=STATUS_LABELS,
        lang_code=_lang(request),
    )


@router.post("/assets/{asset_id}/inspect")
def start_asset(
    request: Request, p: Technician, asset_id: int, plan: Annotated[str, Form(max_length=64)] = ""
) -> Response:
    ctx = ctx_of(request)
    try:
        view = ctx.inspections.start(actor=p.actor(request).label, asset=str(asset_id), plan=plan or None)
    except InspectionError as exc:
        raise _invalid(exc) from None
    ctx.inspections_changed()
    return _see(f"/inspections/{view.id}")


@router.get("/inspections/{inspection_id}", response_class=HTMLResponse)
def inspection(request: Request, p: Viewer, inspection_id: int, saved: int | None = None) -> Response:
    ctx = ctx_of(request)
    try:
        view = ctx.inspections.get(inspection_id)
    except InspectionError as exc:
        from ..services import NotFound

        raise NotFound(str(exc)) from None
    spec = ctx.inspections.plans.plans.get(view.plan)
    open_items = [i for i in view.items if i.result == "pending" and i.prefill is None]
    return render(
        request,
        "inspection.html",
        v=view,
        plan=spec,
        groups=_groups(view),
        open_items=len(open_items),
        saved=saved,
        lang_code=_lang(request),
        result_labels=RESULT_LABELS,
        max_photo_mib=MAX_PHOTO_BYTES // 1024 // 1024,
        evidence=evidence_in(lang_of(request)),
        can_edit=p.user.can("technician") and view.status == "in_progress",
    )


@router.post("/inspections/{inspection_id}/items/{item_id}")
async def record(
    request: Request,
    p: Technician,
    inspection_id: int,
    item_id: int,
    result: Annotated[str, Form(max_length=8)],
    note: Annotated[str, Form(max_length=2000)] = "",
    photo: Annotated[UploadFile | None, File()] = None,
) -> Response:
    ctx = ctx_of(request)
    if result not in ITEM_RESULTS or result == "pending":
        raise Invalid("a result is pass, fail or skip")
    view = await run_in_threadpool(ctx.inspections.get, inspection_id)
    if not any(i.id == item_id for i in view.items):
        raise Invalid(f"inspection #{inspection_id} has no item {item_id}")
    if view.status != "in_progress":
        raise Invalid(f"inspection #{inspection_id} is finished")
    reference = ""
    if photo is not None and photo.filename:
        data = await photo.read(MAX_PHOTO_BYTES + 1)
        await run_in_threadpool(ctx.photos.save, inspection_id, item_id, data)
        reference = (
            f"{ctx.public_url(str(request.base_url))}/inspections/{inspection_id}/items/{item_id}/photo"
        )
    actor = p.actor(request).label
    try:
        await run_in_threadpool(
            lambda: ctx.inspections.record(
                inspection_id, item_id, result, actor=actor, note=note, photo=reference
            )
        )
    except InspectionError as exc:
        had_photo = any(i.id == item_id and i.photo for i in view.items)
        if reference and not had_photo:  # nothing refers to the photo just kept
            ctx.photos.discard(inspection_id, item_id)
        raise _invalid(exc) from None
    return _see(f"/inspections/{inspection_id}?saved={item_id}#item-{item_id}")


@router.get("/inspections/{inspection_id}/items/{item_id}/photo")
def photo(request: Request, p: Viewer, inspection_id: int, item_id: int) -> Response:
    path, media = ctx_of(request).photos.find(inspection_id, item_id)
    return FileResponse(
        path,
        media_type=media,
        headers={"X-Content-Type-Options": "nosniff", "Cache-Control": "private, max-age=3600"},
    )


@router.post("/inspections/{inspection_id}/finish")
def finish(
    request: Request,
    p: Technician,
    inspection_id: int,
    note: Annotated[str, Form(max_length=2000)] = "",
    skip_rest: Annotated[str, Form(max_length=3)] = "",
) -> Response:
    ctx = ctx_of(request)
    try:
        ctx.inspections.finish(
            inspection_id, actor=p.actor(request).label, note=note, skip_rest=skip_rest == "1"
        )
    except InspectionError as exc:
        raise _invalid(exc) from None
    ctx.inspections_changed()  # the overview's overdue list, and the notification senders
    return _see(f"/inspections/{inspection_id}")
