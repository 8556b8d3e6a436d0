"""Fault tickets: one active ticket per problem (the database guarantees it), history on every change."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from .db import Database, utcnow
from .models import ACTIVE_STATES, Ticket, TicketHistory

_log = logging.getLogger(__name__)
SYSTEM_ACTOR = "campusmon"

#: allowed manual transitions; "closed" is final
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged", "in_progress", "resolved"),
    "acknowledged": ("in_progress", "resolved"),
    "in_progress": ("resolved", "acknowledged"),
    "resolved": ("closed", "open"),
    "closed": (),
}


class TicketError(ValueError):
    """A ticket operation that is not allowed (unknown ticket, closed ticket, bad transition)."""


@dataclass(frozen=True, slots=True)
class Opened:
    ticket_id: int
    created: bool


def _history(
    ticket: Ticket, actor: str, action: str, frm: str | None, to: str | None, note: str, at: datetime
) -> None:
    ticket.history.append(
        TicketHistory(at=at, actor=actor, action=action, from_status=frm, to_status=to, note=note)
    )


class TicketService:
    def __init__(self, db: Database) -> None:
        self.db = db

    @staticmethod
    def active(s: Session, campus: str, device: str, problem: str, subject: str = "") -> Ticket | None:
        return s.scalars(
            select(Ticket).where(
                Ticket.campus == campus,
                Ticket.device == device,
                Ticket.problem == problem,
                Ticket.subject == subject,
                Ticket.status.in_(ACTIVE_STATES),
            )
        ).first()

    def open(
        self,
        *,
        campus: str,
        device: str,
        problem: str,
        summary: str,
        subject: str = "",
        severity: str = "warning",
        actor: str = SYSTEM_ACTOR,
        note: str = "",
        at: datetime | None = None,
    ) -> Opened:
        """Open a ticket, or return the active one for the same problem (recorded as a recurrence)."""
        at = at or utcnow()
        for _attempt in range(3):
            try:
                with self.db.session() as s:
                    existing = self.active(s, campus, device, problem, subject)
                    if existing is not None:
                        return Opened(existing.id, created=False)
                    ticket = Ticket(
                        campus=campus,
                        device=device,
                        problem=problem,
                        subject=subject,
                        severity=severity,
                        status="open",
                        summary=summary,
                        opened_at=at,
                        updated_at=at,
                    )
                    _history(ticket, actor, "open", None, "open", note or summary, at)
                    s.add(ticket)
                    s.flush()
                    return Opened(ticket.id, created=True)
            except IntegrityError:
                # another writer opened it between our check and insert: the unique index held
                _log.debug("concurrent open of %s/%s %s; using the existing ticket", campus, device, problem)
        raise TicketError(f"could not open ticket for {campus}/{device} {problem}")  # pragma: no cover

    def resolve_auto(
        self,
        *,
        campus: str,
        device: str,
        problem: str,
        subject: str = "",
        note: str,
        at: datetime | None = None,
    ) -> int | None:
        """Recovery: resolve the active ticket for this problem, saying it was automatic."""
        at = at or utcnow()
        with self.db.session() as s:
            ticket = self.active(s, campus, device, problem, subject)
            if ticket is None:
                return None
            _history(ticket, SYSTEM_ACTOR, "auto_resolve", ticket.status, "resolved", note, at)
            ticket.status = "resolved"
            ticket.resolved_at = at
            ticket.updated_at = at
            return ticket.id

    def transition(self, ticket_id: int, to: str, *, actor: str, note: str = "") -> Ticket:
        at = utcnow()
        with self.db.session() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None:
                raise TicketError(f"no ticket #{ticket_id}")
            if to not in TRANSITIONS.get(ticket.status, ()):
                raise TicketError(f"ticket #{ticket_id} is {ticket.status}; cannot go to {to}")
            if to == "open":
                clash = self.active(s, ticket.campus, ticket.device, ticket.problem, ticket.subject)
                if clash is not None:
                    raise TicketError(f"ticket #{clash.id} is already open for the same problem")
            _history(ticket, actor, "reopen" if to == "open" else to, ticket.status, to, note, at)
            ticket.status = to
            ticket.updated_at = at
            if to == "resolved":
                ticket.resolved_at = at
            elif to == "closed":
                ticket.closed_at = at
            return ticket

    def list(self, *, status: Sequence[str] | None = None, campus: str | None = None) -> list[Ticket]:
        with self.db.session() as s:
            q = select(Ticket).order_by(Ticket.id)
            if status:
                q = q.where(Ticket.status.in_(status))
            if campus:
                q = q.where(Ticket.campus == campus)
            return list(s.scalars(q))

    def get(self, ticket_id: int) -> Ticket:
        with self.db.session() as s:
            ticket = s.scalars(
                select(Ticket).where(Ticket.id == ticket_id).options(selectinload(Ticket.history))
            ).first()
            if ticket is None:
                raise TicketError(f"no ticket #{ticket_id}")
            return ticket
