"""`campusmon inspections …`: what is due or overdue, start one pre-filled, record items, finish, show."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .server_cmd import ConfigOpt, JsonOpt, load_config
from .tickets_cmd import ByOpt, _author

if TYPE_CHECKING:
    from campusmon.server.inspections.service import DueEntry, InspectionService, InspectionView

app = typer.Typer(help="Regular inspections of rooms and equipment.", no_args_is_help=True)

PlanOpt = typer.Option(None, "--plan", help="Inspection plan (default: every plan).")
LangOpt = typer.Option("zh", "--lang", help="Checklist labels: zh or en.")


def _service(config: Path | None) -> InspectionService:
    """The service as the server builds it: tickets it opens are notified by the server."""
    from zoneinfo import ZoneInfo

    from campusmon.config import ConfigError
    from campusmon.server.db import Database
    from campusmon.server.inspections.live import StoreLatest
    from campusmon.server.inspections.plans import load_plans
    from campusmon.server.inspections.service import InspectionService
    from campusmon.server.metrics import SqliteMetricStore
    from campusmon.server.notify import Router
    from campusmon.server.tickets import TicketService

    cfg = load_config(config)
    try:
        plans = load_plans(cfg.inspections.plans_file)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    db = Database(cfg.storage.db_url)
    r = cfg.rules
    tickets = TicketService(
        db,
        reopen_window_seconds=r.reopen_window_seconds,
        flapping_count=r.flapping_count,
        flapping_window_seconds=r.flapping_window_seconds,
        on_event=Router(cfg.notify),
    )
    latest = (
        StoreLatest(SqliteMetricStore(cfg.storage.metrics_path))
        if cfg.storage.metrics_path.exists()
        else None
    )
    return InspectionService(
        db,
        plans,
        tickets,
        tz=ZoneInfo(cfg.schedule.timezone),
        latest=latest,
        notify_overdue=cfg.inspections.notify_overdue,
        overdue_severity=cfg.inspections.overdue_severity,
    )


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


def _lang(lang: str) -> str:
    if lang not in ("zh", "en"):
        raise _fail(ValueError(f"--lang is zh or en, not {lang!r}"))
    return lang


def due_dict(e: DueEntry) -> dict[str, Any]:
    t = e.target
    return {
        "plan": t.plan,
        "kind": t.kind,
        "target": t.key,
        "place": t.place,
        "campus": t.campus,
        "building": t.building,
        "room": t.room,
        "asset": t.asset,
        "last_done": e.last_done.isoformat() if e.last_done else None,
        "next_due": e.next_due.isoformat(),
        "status": e.status,
        "in_progress": e.in_progress,
    }


def inspection_dict(v: InspectionView) -> dict[str, Any]:
    def iso(x: Any) -> str | None:
        return None if x is None else x.isoformat()

    return {
        "id": v.id,
        "plan": v.plan,
        "target": v.target,
        "place": v.place,
        "status": v.status,
        "due_on": iso(v.due_on),
        "started_at": iso(v.started_at),
        "started_by": v.started_by,
        "finished_at": iso(v.finished_at),
        "finished_by": v.finished_by,
        "note": v.note,
        "tickets": [{"id": k, "opened": o} for k, o in sorted(v.tickets.items())],
        "items": [
            {
                "id": i.id,
                "asset": i.asset,
                "device": i.device,
                "type": i.device_type,
                "key": i.key,
                "label_zh": i.label_zh,
                "label_en": i.label_en,
                "prefill": i.prefill,
                "evidence": i.evidence,
                "known_ticket": i.known_ticket_id,
                "result": i.result,
                "note": i.note,
                "photo": i.photo,
                "recorded_by": i.recorded_by,
                "recorded_at": iso(i.recorded_at),
                "ticket": i.ticket_id,
            }
            for i in v.items
        ],
    }


_STATUS = {"overdue": "bold red", "due": "yellow", "ok": "green"}
_RESULT = {"fail": "bold red", "pass": "green", "skip": "dim", "pending": "yellow"}


def _print_due(entries: list[DueEntry], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(entries)} {title}")
    for col in ("plan", "where", "last done", "next due", "status", "in progress"):
        table.add_column(col)
    for e in entries:
        table.add_row(
            e.target.plan,
            e.target.place,
            e.last_done.isoformat() if e.last_done else "never",
            e.next_due.isoformat(),
            f"[{_STATUS[e.status]}]{e.status}[/]",
            f"#{e.in_progress}" if e.in_progress else "",
        )
    Console().print(table)


def _print_inspection(v: InspectionView, lang: str) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    console.print(
        f"[bold]inspection #{v.id}[/] {escape(v.plan)} — {escape(v.place)} — {v.status}"
        f" (started {v.started_at:%Y-%m-%d %H:%M} by {escape(v.started_by)})"
    )
    table = Table()
    for col in ("#", "asset", "item", "live data", "result", "note", "ticket"):
        table.add_column(col)
    for i in v.items:
        pre = f"[{_RESULT[i.prefill]}]{i.prefill}[/] " if i.prefill else ""
        table.add_row(
            str(i.id),
            escape(i.asset),
            escape(i.label("zh" if lang == "zh" else "en")),
            pre + escape(i.evidence),
            f"[{_RESULT[i.result]}]{i.result}[/]",
            escape(i.note),
            f"#{i.ticket_id}" if i.ticket_id else "",
        )
    console.print(table)
    for tid, opened in sorted(v.tickets.items()):
        console.print(f"ticket #{tid} {'opened' if opened else 'noted'}")


@app.command("due")
def due(
    within: int = typer.Option(None, "--within", min=0, max=365, help="Days ahead (default: config)."),
    plan: str | None = PlanOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Rooms and assets whose inspection is overdue or falls due within --within days."""
    from campusmon.config import ConfigError

    svc = _service(config)
    days = within if within is not None else load_config(config).inspections.due_within_days
    try:
        entries = svc.due(within_days=days, plan=plan)
    except ConfigError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps([due_dict(e) for e in entries], ensure_ascii=False, indent=2))
    else:
        _print_due(entries, f"due within {days} days")


@app.command("overdue")
def overdue(plan: str | None = PlanOpt, config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """Rooms and assets whose inspection is past its due date."""
    from campusmon.config import ConfigError

    try:
        entries = _service(config).overdue(plan=plan)
    except ConfigError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps([due_dict(e) for e in entries], ensure_ascii=False, indent=2))
    else:
        _print_due(entries, "overdue")


@app.command("start")
def start(
    room: str | None = typer.Option(None, "--room", help="CAMPUS/BUILDING/ROOM, BUILDING/ROOM or ROOM."),
    asset: str | None = typer.Option(None, "--asset", help="Asset id or tag (per-asset plans)."),
    plan: str | None = PlanOpt,
    by: str | None = ByOpt,
    lang: str = LangOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Start (or resume) an inspection; its checklist comes pre-filled from live data."""
    from campusmon.config import ConfigError
    from campusmon.server.inspections.service import InspectionError

    try:
        view = _service(config).start(actor=_author(by), room=room, asset=asset, plan=plan)
    except (InspectionError, ConfigError) as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(inspection_dict(view), ensure_ascii=False, indent=2))
    else:
        _print_inspection(view, _lang(lang))


@app.command("record")
def record(
    inspection: int = typer.Argument(..., help="Inspection number."),
    item: str = typer.Argument(..., help="Item id, KEY, or ASSET:KEY."),
    result: str = typer.Argument(..., help="pass, fail or skip."),
    note: str = typer.Option("", "--note", help="What was seen."),
    photo: str = typer.Option("", "--photo", help="Where a photo of it is kept (path or URL)."),
    by: str | None = ByOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Confirm, fail or skip one checklist item."""
    from campusmon.server.inspections.service import InspectionError

    try:
        view = _service(config).record(inspection, item, result, actor=_author(by), note=note, photo=photo)
    except InspectionError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps({"id": view.id, "key": view.key, "asset": view.asset, "result": view.result}))
    else:
        typer.echo(f"#{inspection} {view.asset}:{view.key} = {view.result}")


@app.command("finish")
def finish(
    inspection: int = typer.Argument(..., help="Inspection number."),
    note: str = typer.Option("", "--note"),
    skip_rest: bool = typer.Option(False, "--skip-rest", help="Items nobody checked count as skipped."),
    by: str | None = ByOpt,
    lang: str = LangOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Finish: failed items open tickets (or note the open one); the room and assets get their dates."""
    from campusmon.server.inspections.service import InspectionError

    try:
        view = _service(config).finish(inspection, actor=_author(by), note=note, skip_rest=skip_rest)
    except InspectionError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(inspection_dict(view), ensure_ascii=False, indent=2))
    else:
        _print_inspection(view, _lang(lang))


@app.command("show")
def show(
    inspection: int = typer.Argument(..., help="Inspection number."),
    lang: str = LangOpt,
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One inspection with its checklist, results and tickets."""
    from campusmon.server.inspections.service import InspectionError

    try:
        view = _service(config).get(inspection)
    except InspectionError as exc:
        raise _fail(exc) from None
    if as_json:
        typer.echo(json.dumps(inspection_dict(view), ensure_ascii=False, indent=2))
    else:
        _print_inspection(view, _lang(lang))
