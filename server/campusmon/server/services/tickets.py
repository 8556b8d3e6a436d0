"""Tickets for people: lists and filters, the workflow, notes, assignment, manual and teacher reports."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import selectinload

from ..db import Database, as_utc, utcnow
from ..models import ACTIVE_STATES, TICKET_STATES, NotifyOutbox, Ticket, TicketHistory
from ..tickets import TRANSITIONS, EventHook, TicketError, TicketService
from . import Actor, Conflict, Invalid, NotFound, Page, PageRequest
from .users import audit

#: workflow actions people take, and the state each leads to
ACTIONS: dict[str, str] = {
    "ack": "acknowledged",
    "start": "in_progress",
    "resolve": "resolved",
    "close": "closed",
    "reopen": "open",
}
#: what a teacher can say is wrong, without knowing anything about computers
TEACHER_PROBLEMS = (
    "no_picture",
    "no_sound",
    "touch",
    "document_camera",
    "network",
    "wont_start",
    "other",
)
SOURCES = ("automatic", "manual", "teacher", "inspection")


@dataclass(frozen=True, slots=True)
class TicketView:
    id: int
    campus: str
    device: str
    room: str
    problem: str
    subject: str
    severity: str
    status: str
    summary: str
    source: str
    assignee: str
    opened_by: str
    flapping: bool
    opened_at: datetime
    updated_at: datetime
    resolved_at: datetime | None


@dataclass(frozen=True, slots=True)
class TicketStep:
    at: datetime
    actor: str
    action: str
    from_status: str | None
    to_status: str | None
    note: str


@dataclass(frozen=True, slots=True)
class AffectedDevice:
    campus: str
    device: str
    recovered: bool


@dataclass(frozen=True, slots=True)
class TicketDetail:
    ticket: TicketView
    history: list[TicketStep]
    affected: list[AffectedDevice]
    #: workflow actions allowed now (ack, start, resolve, close, reopen)
    actions: list[str]


@dataclass(frozen=True, slots=True)
class TicketFilter:
    status: Sequence[str] = ()
    #: "active": open, acknowledged and in progress
    active: bool = False
    campus: str | None = None
    room: str | None = None
    device: str | None = None
    severity: Sequence[str] = ()
    source: str | None = None
    assignee: str | None = None
    search: str | None = None


@dataclass(frozen=True, slots=True)
class ReportOutcome:
    ticket_id: int
    #: False: the report became a note on the ticket already open for it
    created: bool


def _view(t: Ticket) -> TicketView:
    return TicketView(
        t.id,
        t.campus,
        t.device,
        t.room,
        t.problem,
        t.subject,
        t.severity,
        t.status,
        t.summary,
        t.source,
        t.assignee,
        t.opened_by,
        t.flapping,
        as_utc(t.opened_at) or utcnow(),
        as_utc(t.updated_at) or utcnow(),
        as_utc(t.resolved_at),
    )


def _iso(value: datetime | None) -> str | None:
    at = as_utc(value)
    return None if at is None else at.isoformat()


def ticket_json(t: Ticket, history: bool = False) -> dict[str, Any]:
    """A ticket as `campusmon tickets … --json` prints it (affected devices; history when asked)."""
    out: dict[str, Any] = {
        "id": t.id,
        "campus": t.campus,
        "device": t.device,
        "room": t.room,
        "problem": t.problem,
        "subject": t.subject,
        "severity": t.severity,
        "status": t.status,
        "flapping": bool(t.flapping),
        "summary": t.summary,
        "opened_by": t.opened_by,
        "opened_at": _iso(t.opened_at),
        "updated_at": _iso(t.updated_at),
        "resolved_at": _iso(t.resolved_at),
        "closed_at": _iso(t.closed_at),
        "affected": [
            {"device": a.device, "added_at": _iso(a.added_at), "recovered_at": _iso(a.recovered_at)}
            for a in t.affected
        ],
    }
    if history:
        out["history"] = [
            {
                "at": _iso(h.at),
                "actor": h.actor,
                "action": h.action,
                "from": h.from_status,
                "to": h.to_status,
                "note": h.note,
            }
            for h in t.history
        ]
    return out


def open_tickets_of(db: Database, campus: str, device: str) -> list[Ticket]:
    """The device's tickets still being worked on (open, acknowledged, in progress), oldest first."""
    with db.session() as s:
        return list(
            s.scalars(
                select(Ticket)
                .where(Ticket.campus == campus, Ticket.device == device, Ticket.status.in_(ACTIVE_STATES))
                .order_by(Ticket.id)
                .options(selectinload(Ticket.affected))
            )
        )


def _clean(text: str, limit: int) -> str:
    """One line or a few: control characters out, bounded."""
    out = "".join(c for c in text if c in "\n\t" or c.isprintable())
    return out.strip()[:limit]


class TicketQueries:
    """The HTTP side of tickets. Writes go through `TicketService` (the one-ticket-per-problem rules)."""

    def __init__(
        self,
        db: Database,
        *,
        on_event: EventHook | None = None,
        after_change: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.engine = TicketService(db, on_event=on_event)
        self.after_change = after_change or (lambda: None)

    # -- reading -----------------------------------------------------------------------------------
    def page(self, flt: TicketFilter, page: PageRequest) -> Page[TicketView]:
        bad = [s for s in flt.status if s not in TICKET_STATES]
        if bad:
            raise Invalid(f"status {bad[0]!r}: one of {', '.join(TICKET_STATES)}")
        q = select(Ticket)
        if flt.active:
            q = q.where(Ticket.status.in_(ACTIVE_STATES))
        if flt.status:
            q = q.where(Ticket.status.in_(list(flt.status)))
        if flt.campus:
            q = q.where(Ticket.campus == flt.campus)
        if flt.room:
            q = q.where(Ticket.room == flt.room)
        if flt.device:
            q = q.where(Ticket.device == flt.device)
        if flt.severity:
            q = q.where(Ticket.severity.in_(list(flt.severity)))
        if flt.source:
            q = q.where(Ticket.source == flt.source)
        if flt.assignee:
            q = q.where(Ticket.assignee == flt.assignee)
        if flt.search:
            like = f"%{flt.search.strip()[:100]}%"
            q = q.where(or_(Ticket.summary.ilike(like), Ticket.device.ilike(like), Ticket.room.ilike(like)))
        with self.db.session() as s:
            total = int(s.scalar(select(func.count()).select_from(q.subquery())) or 0)
            rows = s.scalars(
                q.order_by(Ticket.updated_at.desc(), Ticket.id.desc())
                .offset(page.offset)
                .limit(page.per_page)
            )
            items = [_view(t) for t in rows]
        return Page(items, total, page.page, page.per_page)

    def counts(self) -> dict[str, int]:
        """Active tickets by severity (for tiles and /metrics)."""
        with self.db.session() as s:
            rows = s.execute(
                select(Ticket.severity, func.count(Ticket.id))
                .where(Ticket.status.in_(ACTIVE_STATES))
                .group_by(Ticket.severity)
            ).all()
        return {str(k): int(v) for k, v in rows}

    def outbox_counts(self) -> dict[str, int]:
        """Notifications by outbox status (pending, sent, failed)."""
        with self.db.session() as s:
            rows = s.execute(
                select(NotifyOutbox.status, func.count(NotifyOutbox.id)).group_by(NotifyOutbox.status)
            )
            return {str(k): int(v) for k, v in rows}

    def get(self, ticket_id: int) -> TicketDetail:
        with self.db.session() as s:
            t = s.scalars(
                select(Ticket)
                .where(Ticket.id == ticket_id)
                .options(selectinload(Ticket.history), selectinload(Ticket.affected))
            ).first()
            if t is None:
                raise NotFound(f"no ticket #{ticket_id}")
            steps = [
                TicketStep(as_utc(h.at) or utcnow(), h.actor, h.action, h.from_status, h.to_status, h.note)
                for h in t.history
            ]
            affected = [AffectedDevice(a.campus, a.device, a.recovered_at is not None) for a in t.affected]
            allowed = [a for a, to in ACTIONS.items() if to in TRANSITIONS.get(t.status, ())]
            return TicketDetail(_view(t), steps, affected, allowed)

    # -- the workflow ------------------------------------------------------------------------------
    def act(self, ticket_id: int, action: str, *, actor: Actor, note: str = "") -> TicketDetail:
        to = ACTIONS.get(action)
        if to is None:
            raise Invalid(f"action {action!r}: one of {', '.join(ACTIONS)}")
        before = self.get(ticket_id).ticket.status
        try:
            self.engine.transition(ticket_id, to, actor=actor.label, note=_clean(note, 4000))
        except TicketError as exc:
            raise Conflict(str(exc)) from None
        with self.db.session() as s:
            audit(s, actor, f"ticket.{action}", f"ticket:{ticket_id}", {"status": before}, {"status": to})
        self.after_change()
        return self.get(ticket_id)

    def note(self, ticket_id: int, text: str, *, actor: Actor) -> TicketDetail:
        try:
            self.engine.note(ticket_id, _clean(text, 4000), actor=actor.label)
        except TicketError as exc:
            raise (NotFound if "no ticket" in str(exc) else Invalid)(str(exc)) from None
        with self.db.session() as s:
            audit(s, actor, "ticket.note", f"ticket:{ticket_id}", None, {"note": text[:200]})
        return self.get(ticket_id)

    def assign(self, ticket_id: int, assignee: str, *, actor: Actor) -> TicketDetail:
        assignee = assignee.strip()[:64]
        with self.db.session() as s:
            t = s.get(Ticket, ticket_id)
            if t is None:
                raise NotFound(f"no ticket #{ticket_id}")
            if t.status == "closed":
                raise Conflict(f"ticket #{ticket_id} is closed")
            before = t.assignee
            if before != assignee:
                t.assignee = assignee
                t.updated_at = utcnow()
                t.history.append(
                    TicketHistory(
                        at=utcnow(),
                        actor=actor.label,
                        action="assign",
                        from_status=None,
                        to_status=None,
                        note=f"assigned to {assignee}" if assignee else "unassigned",
                    )
                )
                audit(
                    s,
                    actor,
                    "ticket.assign",
                    f"ticket:{ticket_id}",
                    {"assignee": before},
                    {"assignee": assignee},
                )
        return self.get(ticket_id)

    def open_manual(
        self,
        *,
        campus: str,
        summary: str,
        actor: Actor,
        device: str = "",
        room: str = "",
        severity: str = "warning",
    ) -> TicketDetail:
        summary = _clean(summary, 500)
        if not summary:
            raise Invalid("say what is wrong")
        if severity not in ("info", "warning", "critical"):
            raise Invalid("severity: info, warning or critical")
        try:
            opened = self.engine.open_manual(
                campus=campus, summary=summary, actor=actor.label, device=device, room=room, severity=severity
            )
        except TicketError as exc:
            raise Invalid(str(exc)) from None
        with self.db.session() as s:
            t = s.get(Ticket, opened.ticket_id)
            if t is not None and opened.created:
                t.source = "manual"
            audit(s, actor, "ticket.open", f"ticket:{opened.ticket_id}", None, {"summary": summary})
        self.after_change()
        return self.get(opened.ticket_id)

    def teacher_report(
        self,
        *,
        campus: str,
        room: str,
        device: str,
        problem: str,
        text: str,
        name: str,
        summary: str,
        client: str = "",
    ) -> ReportOutcome:
        """A teacher's report from a room's QR code: a new ticket (source teacher), or a note on the
        open ticket for the same device and problem."""
        if problem not in TEACHER_PROBLEMS:
            raise Invalid(f"problem: one of {', '.join(TEACHER_PROBLEMS)}")
        who = _clean(name, 40) or "anonymous"
        detail = _clean(text, 1000)
        actor = Actor(f"teacher:{who}", "teacher", client)
        note = f"{summary}: {detail}" if detail else summary
        opened = self.engine.open(
            campus=campus,
            device=device,
            problem=f"report_{problem}",
            subject="" if device else room,
            summary=summary[:500],
            severity="warning",
            actor=actor.label,
            note=note,
            room=room,
        )
        with self.db.session() as s:
            t = s.get(Ticket, opened.ticket_id)
            if t is not None and opened.created:
                t.source = "teacher"
            audit(
                s,
                actor,
                "ticket.report" if opened.created else "ticket.report_note",
                f"ticket:{opened.ticket_id}",
                None,
                {"room": room, "device": device, "problem": problem},
            )
        self.after_change()
        return ReportOutcome(opened.ticket_id, opened.created)

    def room_tickets(
        self, campus: str, room: str, devices: Sequence[str], limit: int = 20
    ) -> list[TicketView]:
        """Active and recently changed tickets of a room (its own or its devices')."""
        with self.db.session() as s:
            q = (
                select(Ticket)
                .where(
                    Ticket.campus == campus,
                    or_(Ticket.room == room, Ticket.device.in_(list(devices))),
                )
                .order_by(Ticket.updated_at.desc())
                .limit(limit)
            )
            return [_view(t) for t in s.scalars(q)]
