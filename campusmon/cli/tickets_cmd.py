"""`campusmon tickets …`: list, show, move through states, add notes, open by hand."""

from __future__ import annotations

import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .server_cmd import ConfigOpt, JsonOpt, fmt_time, load_config

if TYPE_CHECKING:
    from campusmon.server.tickets import TicketService

app = typer.Typer(help="Fault tickets.", no_args_is_help=True)

ByOpt = typer.Option(None, "--by", help="Who does this (default: the OS user).")


def _author(by: str | None) -> str:
    if by:
        return by
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _service(config: Path | None) -> TicketService:
    """The ticket service as the server builds it: changes made here are notified by the server."""
    from campusmon.server.notify import Router
    from campusmon.server.tickets import TicketService

    from .server_cmd import database

    cfg = load_config(config)
    r = cfg.rules
    return TicketService(
        database(cfg.storage.db_url),
        reopen_window_seconds=r.reopen_window_seconds,
        flapping_count=r.flapping_count,
        flapping_window_seconds=r.flapping_window_seconds,
        on_event=Router(cfg.notify),
    )


def _fail(exc: Exception) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(1)


_COLORS = {
    "open": "bold red",
    "acknowledged": "yellow",
    "in_progress": "yellow",
    "resolved": "green",
    "closed": "dim",
}


def _where(t: Any) -> str:
    parts = [p for p in (t.room, t.device, t.subject if t.subject != t.room else "") if p]
    return " ".join(parts) or "-"


def print_tickets(tickets: list[Any], title: str = "tickets") -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{len(tickets)} {title}")
    for col in ("#", "status", "severity", "campus", "where", "problem", "opened", "summary"):
        table.add_column(col)
    for t in tickets:
        n = len(t.affected)
        table.add_row(
            str(t.id),
            f"[{_COLORS.get(t.status, 'white')}]{t.status}[/]",
            t.severity,
            t.campus,
            _where(t),
            t.problem + (f" ({n} devices)" if n else "") + (" [flapping]" if t.flapping else ""),
            fmt_time(t.opened_at),
            t.summary,
        )
    Console().print(table)


def print_ticket(t: Any) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]Ticket #{t.id}[/] [{t.status}] {t.severity} — {t.summary}")
    console.print(f"  {t.campus} / {_where(t)}, problem {t.problem}{' (flapping)' if t.flapping else ''}")
    console.print(
        f"  opened {fmt_time(t.opened_at)} by {t.opened_by or '-'}, updated {fmt_time(t.updated_at)}"
    )
    if t.affected:
        table = Table(title=f"{len(t.affected)} affected devices")
        for col in ("device", "since", "recovered"):
            table.add_column(col)
        for a in t.affected:
            table.add_row(a.device, fmt_time(a.added_at), fmt_time(a.recovered_at))
        console.print(table)
    table = Table(title="history")
    for col in ("when", "who", "action", "status", "note"):
        table.add_column(col)
    for h in t.history:
        table.add_row(
            fmt_time(h.at), h.actor, h.action, f"{h.from_status or ''} → {h.to_status or ''}", h.note
        )
    console.print(table)


def _check(values: list[str], allowed: tuple[str, ...], what: str) -> None:
    from campusmon.config import did_you_mean

    for v in values:
        if v not in allowed:
            typer.echo(f"error: unknown {what} {v!r}{did_you_mean(v, allowed)}", err=True)
            raise typer.Exit(2)


@app.command("list")
def tickets_list(
    config: Path | None = ConfigOpt,
    status: list[str] = typer.Option([], "--status", help="Only these states (repeatable)."),
    campus: str | None = typer.Option(None, "--campus"),
    room: str | None = typer.Option(None, "--room"),
    severity: list[str] = typer.Option([], "--severity", help="Only these severities (repeatable)."),
    as_json: bool = JsonOpt,
) -> None:
    """List tickets (all states unless --status)."""
    from campusmon.server.config import SEVERITIES
    from campusmon.server.models import TICKET_STATES

    _check(status, TICKET_STATES, "status")
    _check(severity, SEVERITIES, "severity")
    svc = _service(config)
    tickets = svc.list(status=status or None, campus=campus, room=room, severity=severity or None)
    svc.db.dispose()
    if as_json:
        from campusmon.server.services.tickets import ticket_json

        typer.echo(json.dumps([ticket_json(t) for t in tickets], ensure_ascii=False, indent=2))
    else:
        print_tickets(tickets)


@app.command("show")
def tickets_show(ticket_id: int, config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """One ticket with its affected devices and whole history."""
    from campusmon.server.tickets import TicketError

    svc = _service(config)
    try:
        t = svc.get(ticket_id)
    except TicketError as exc:
        raise _fail(exc) from None
    finally:
        svc.db.dispose()
    if as_json:
        from campusmon.server.services.tickets import ticket_json

        typer.echo(json.dumps(ticket_json(t, history=True), ensure_ascii=False, indent=2))
    else:
        print_ticket(t)


def _move(ticket_id: int, to: str, config: Path | None, by: str | None, note: str) -> None:
    from campusmon.server.tickets import TicketError

    svc = _service(config)
    try:
        t = svc.transition(ticket_id, to, actor=_author(by), note=note)
        down = svc.still_down(t.id) if to == "resolved" else []
    except TicketError as exc:
        raise _fail(exc) from None
    finally:
        svc.db.dispose()
    typer.echo(f"ticket #{t.id} is now {t.status}")
    if down:
        names = ", ".join(down[:10]) + (f" and {len(down) - 10} more" if len(down) > 10 else "")
        typer.echo(
            f"note: {names} {'is' if len(down) == 1 else 'are'} still offline; the ticket stays resolved "
            "until seen again (a loss after that opens it again)"
        )


NoteOpt = typer.Option("", "--note", "-m", help="Why (kept in the history).")


@app.command("ack")
def tickets_ack(
    ticket_id: int, config: Path | None = ConfigOpt, by: str | None = ByOpt, note: str = NoteOpt
) -> None:
    """Acknowledge: someone has seen it."""
    _move(ticket_id, "acknowledged", config, by, note)


@app.command("start")
def tickets_start(
    ticket_id: int, config: Path | None = ConfigOpt, by: str | None = ByOpt, note: str = NoteOpt
) -> None:
    """Work on it (in progress)."""
    _move(ticket_id, "in_progress", config, by, note)


@app.command("resolve")
def tickets_resolve(
    ticket_id: int, config: Path | None = ConfigOpt, by: str | None = ByOpt, note: str = NoteOpt
) -> None:
    """Mark it resolved (it can still be reopened until closed)."""
    _move(ticket_id, "resolved", config, by, note)


@app.command("close")
def tickets_close(
    ticket_id: int, config: Path | None = ConfigOpt, by: str | None = ByOpt, note: str = NoteOpt
) -> None:
    """Close a resolved ticket for good (closed is final)."""
    _move(ticket_id, "closed", config, by, note)


@app.command("reopen")
def tickets_reopen(
    ticket_id: int, config: Path | None = ConfigOpt, by: str | None = ByOpt, note: str = NoteOpt
) -> None:
    """Reopen a resolved ticket."""
    _move(ticket_id, "open", config, by, note)


@app.command("note")
def tickets_note(ticket_id: int, text: str, config: Path | None = ConfigOpt, by: str | None = ByOpt) -> None:
    """Add a note to the ticket's history."""
    from campusmon.server.tickets import TicketError

    svc = _service(config)
    try:
        t = svc.note(ticket_id, text, actor=_author(by))
    except TicketError as exc:
        raise _fail(exc) from None
    finally:
        svc.db.dispose()
    typer.echo(f"note added to ticket #{t.id}")


@app.command("open")
def tickets_open(
    summary: str = typer.Option(..., "--summary", "-s", help="What is wrong, in a sentence."),
    device: str | None = typer.Option(None, "--device", help="The device it is about."),
    room: str | None = typer.Option(None, "--room", help="The room it is about."),
    campus: str = typer.Option("main", "--campus", envvar="CAMPUSMON_CAMPUS"),
    severity: str = typer.Option("warning", "--severity"),
    config: Path | None = ConfigOpt,
    by: str | None = ByOpt,
    force: bool = typer.Option(
        False, "--force", help="Open it for a device that has never reported and is not in the register."
    ),
) -> None:
    """Open a ticket by hand (a teacher's report), for a device or a room."""
    from campusmon.server.config import SEVERITIES
    from campusmon.server.tickets import TicketError

    _check([severity], SEVERITIES, "severity")
    if (device is None) == (room is None):
        typer.echo("error: give exactly one of --device and --room", err=True)
        raise typer.Exit(2)
    svc = _service(config)
    try:
        opened = svc.open_manual(
            campus=campus,
            device=device or "",
            room=room or "",
            summary=summary,
            severity=severity,
            actor=_author(by),
            force=force,
        )
    except TicketError as exc:
        raise _fail(exc) from None
    finally:
        svc.db.dispose()
    if opened.created:
        typer.echo(f"ticket #{opened.ticket_id} opened")
    else:
        typer.echo(f"ticket #{opened.ticket_id} is already open for this; your report was added to it")
