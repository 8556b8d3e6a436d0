"""Fault tickets: one active ticket per problem (the database guarantees it), history on every change.

A recurrence within the reopen window reopens the resolved ticket instead of opening a new one; a
problem that keeps reopening becomes one flapping ticket. Root-cause tickets (a switch down, a room
dark) list the affected devices and resolve when the cause recovers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from campusmon.contract import ID_RE

from .db import Database, as_utc, utcnow
from .models import ACTIVE_STATES, Device, Ticket, TicketDevice, TicketHistory

_log = logging.getLogger(__name__)
SYSTEM_ACTOR = "campusmon"
#: problems whose ticket stands for a group of devices
GROUP_PROBLEMS = ("upstream_down", "room_down", "link_down")
#: problems that mean "this device is not up"
DOWN_PROBLEMS = ("device_down", "should_be_on")

#: allowed manual transitions; "closed" is final
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged", "in_progress", "resolved"),
    "acknowledged": ("in_progress", "resolved"),
    "in_progress": ("resolved", "acknowledged"),
    "resolved": ("closed", "open"),
    "closed": (),
}

#: called inside the ticket's transaction: (session, ticket, event) — the notification outbox
EventHook = Callable[[Session, Ticket, str], None]


class TicketError(ValueError):
    """A ticket operation that is not allowed (unknown ticket, closed ticket, bad transition)."""


@dataclass(frozen=True, slots=True)
class Opened:
    ticket_id: int
    created: bool
    #: opened, reopened, flapping, or None (the ticket was already active)
    event: str | None = None


def recount(summary: str, n: int) -> str:
    """A group ticket's summary begins with how many devices it lists: keep that number current."""
    prefix = "[flapping] " if summary.startswith("[flapping] ") else ""
    head, sep, rest = summary.removeprefix(prefix).partition(" devices ")
    if not (sep and head.isdigit()):
        return summary
    return f"{prefix}{n} devices {rest}"[:500]


def _history(
    ticket: Ticket, actor: str, action: str, frm: str | None, to: str | None, note: str, at: datetime
) -> None:
    ticket.history.append(
        TicketHistory(at=at, actor=actor, action=action, from_status=frm, to_status=to, note=note)
    )


class TicketService:
    def __init__(
        self,
        db: Database,
        *,
        reopen_window_seconds: float = 3600.0,
        flapping_count: int = 3,
        flapping_window_seconds: float = 1800.0,
        on_event: EventHook | None = None,
    ) -> None:
        self.db = db
        self.reopen_window = timedelta(seconds=reopen_window_seconds)
        self.flapping_count = flapping_count
        self.flapping_window = timedelta(seconds=flapping_window_seconds)
        self.on_event = on_event

    def _emit(self, s: Session, ticket: Ticket, event: str) -> None:
        if self.on_event is not None:
            s.flush()
            self.on_event(s, ticket, event)

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

    @staticmethod
    def covering(s: Session, campus: str, device: str) -> Ticket | None:
        """The active ticket that already says this device is down (its own, or a group's)."""
        own = s.scalars(
            select(Ticket).where(
                Ticket.campus == campus,
                Ticket.device == device,
                Ticket.problem.in_((*DOWN_PROBLEMS, "upstream_down")),
                Ticket.status.in_(ACTIVE_STATES),
            )
        ).first()
        if own is not None:
            return own
        return s.scalars(
            select(Ticket)
            .join(TicketDevice, TicketDevice.ticket_id == Ticket.id)
            .where(
                TicketDevice.campus == campus,
                TicketDevice.device == device,
                TicketDevice.recovered_at.is_(None),
                Ticket.status.in_(ACTIVE_STATES),
            )
        ).first()

    @staticmethod
    def covered_devices(s: Session, *, own_groups: bool = True) -> set[tuple[str, str]]:
        """Every (campus, device) some active ticket already says is down (two queries, for sweeps).
        `own_groups=False` leaves out a switch that only stands for its group (it may well be up)."""
        problems = (*DOWN_PROBLEMS, "upstream_down") if own_groups else DOWN_PROBLEMS
        own = s.execute(
            select(Ticket.campus, Ticket.device).where(
                Ticket.problem.in_(problems), Ticket.status.in_(ACTIVE_STATES)
            )
        ).all()
        grouped = s.execute(
            select(TicketDevice.campus, TicketDevice.device)
            .join(Ticket, TicketDevice.ticket_id == Ticket.id)
            .where(TicketDevice.recovered_at.is_(None), Ticket.status.in_(ACTIVE_STATES))
        ).all()
        return {(c, d) for c, d in (*own, *grouped)}

    @staticmethod
    def handled_losses(s: Session) -> dict[tuple[str, str], datetime]:
        """(campus, device) -> when a person last resolved a ticket saying it is down (its own, or a
        group's that lists it). A loss that began before then stays resolved: no "recurrence" until
        the device has been seen again (docs: faults, "Resolving by hand")."""
        person = (TicketHistory.action == "resolved") & (TicketHistory.actor != SYSTEM_ACTOR)
        own = s.execute(
            select(Ticket.campus, Ticket.device, func.max(TicketHistory.at))
            .join(TicketHistory, TicketHistory.ticket_id == Ticket.id)
            .where(person, Ticket.problem.in_(DOWN_PROBLEMS))
            .group_by(Ticket.campus, Ticket.device)
        ).all()
        grouped = s.execute(
            select(TicketDevice.campus, TicketDevice.device, func.max(TicketHistory.at))
            .join(Ticket, TicketDevice.ticket_id == Ticket.id)
            .join(TicketHistory, TicketHistory.ticket_id == Ticket.id)
            .where(person, Ticket.problem.in_(GROUP_PROBLEMS), TicketDevice.recovered_at.is_(None))
            .group_by(TicketDevice.campus, TicketDevice.device)
        ).all()
        out: dict[tuple[str, str], datetime] = {}
        for campus, device, when in (*own, *grouped):
            at = as_utc(when)
            prev = out.get((campus, device))
            if at is not None and (prev is None or at > prev):
                out[(campus, device)] = at
        return out

    def still_down(self, ticket_id: int) -> list[str]:
        """Devices a down or group ticket names that are not online now (for a person resolving it)."""
        with self.db.session() as s:
            t = s.get(Ticket, ticket_id)
            if t is None or t.problem not in (*DOWN_PROBLEMS, *GROUP_PROBLEMS):
                return []
            names = [a.device for a in t.affected if a.recovered_at is None]
            if t.problem in DOWN_PROBLEMS:
                names = [t.device]
            if not names:
                return []
            online = set(
                s.scalars(
                    select(Device.device).where(
                        Device.campus == t.campus, Device.device.in_(names), Device.state == "online"
                    )
                )
            )
            return [n for n in names if n not in online]

    def _recent_resolved(
        self, s: Session, campus: str, device: str, problem: str, subject: str, at: datetime
    ) -> Ticket | None:
        return s.scalars(
            select(Ticket)
            .where(
                Ticket.campus == campus,
                Ticket.device == device,
                Ticket.problem == problem,
                Ticket.subject == subject,
                Ticket.status == "resolved",
                Ticket.resolved_at >= at - self.reopen_window,
            )
            .order_by(Ticket.id.desc())
        ).first()

    @staticmethod
    def _add_affected(
        s: Session, ticket: Ticket, campus: str, devices: Iterable[str], at: datetime
    ) -> list[str]:
        have = {(a.campus, a.device): a for a in ticket.affected}
        added = []
        for d in devices:
            row = have.get((campus, d))
            if row is None:
                ticket.affected.append(TicketDevice(campus=campus, device=d, added_at=at))
                added.append(d)
            elif row.recovered_at is not None:
                row.recovered_at = None
                added.append(d)
        return added

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
        room: str = "",
        affected: Sequence[str] = (),
        at: datetime | None = None,
        source: str = "automatic",
    ) -> Opened:
        """Open a ticket; or add to the active one; or reopen a recently resolved one (recurrence).
        Times are stored in UTC (SQLite keeps a time's wall clock only, whatever its zone).
        `source` (automatic, manual, teacher, inspection) is kept by a ticket this call creates."""
        at = (at or utcnow()).astimezone(UTC)
        for _attempt in range(3):
            try:
                with self.db.session() as s:
                    return self._open(
                        s,
                        campus,
                        device,
                        problem,
                        summary,
                        subject,
                        severity,
                        actor,
                        note,
                        room,
                        affected,
                        at,
                        source,
                    )
            except IntegrityError:
                # another writer opened it between our check and insert: the unique index held
                _log.debug("concurrent open of %s/%s %s; using the existing ticket", campus, device, problem)
        raise TicketError(f"could not open ticket for {campus}/{device} {problem}")  # pragma: no cover

    def _open(
        self,
        s: Session,
        campus: str,
        device: str,
        problem: str,
        summary: str,
        subject: str,
        severity: str,
        actor: str,
        note: str,
        room: str,
        affected: Sequence[str],
        at: datetime,
        source: str = "automatic",
    ) -> Opened:
        existing = self.active(s, campus, device, problem, subject)
        if existing is not None:
            added = self._add_affected(s, existing, campus, affected, at)
            if added:
                _history(existing, actor, "affected", None, None, "also affected: " + ", ".join(added), at)
                existing.updated_at = at
                if problem in GROUP_PROBLEMS:
                    existing.summary = recount(existing.summary, len(existing.affected))
            elif actor != SYSTEM_ACTOR and note:
                _history(existing, actor, "note", None, None, note, at)
                existing.updated_at = at
            if existing.last_signal != "open":
                existing.last_signal, existing.last_signal_at = "open", at
            return Opened(existing.id, created=False)
        recent = self._recent_resolved(s, campus, device, problem, subject, at)
        if recent is not None:
            recent.status = "open"
            recent.resolved_at = None
            recent.updated_at = at
            recent.last_signal, recent.last_signal_at = "open", at
            _history(recent, actor, "reopen", "resolved", "open", f"recurred: {summary}", at)
            self._add_affected(s, recent, campus, affected, at)
            if problem in GROUP_PROBLEMS:
                recent.summary = recount(recent.summary, len(recent.affected))
            s.flush()
            reopens = s.scalar(
                select(func.count(TicketHistory.id)).where(
                    TicketHistory.ticket_id == recent.id,
                    TicketHistory.action == "reopen",
                    TicketHistory.at >= at - self.flapping_window,
                )
            )
            event: str | None = "reopened"
            if recent.flapping:
                event = None  # already known to flap: no message per bounce
            elif (reopens or 0) >= self.flapping_count:
                recent.flapping = True
                if not recent.summary.startswith("[flapping]"):
                    recent.summary = f"[flapping] {recent.summary}"[:500]
                _history(
                    recent,
                    SYSTEM_ACTOR,
                    "flapping",
                    None,
                    None,
                    f"reopened {reopens} times within {self.flapping_window.total_seconds():g} s; "
                    "stays open until stable",
                    at,
                )
                event = "flapping"
            if event:
                self._emit(s, recent, event)
            return Opened(recent.id, created=False, event=event)
        ticket = Ticket(
            campus=campus,
            device=device,
            problem=problem,
            subject=subject,
            severity=severity,
            status="open",
            summary=summary[:500],
            room=room,
            opened_by=actor,
            flapping=False,
            source=source,
            opened_at=at,
            updated_at=at,
            last_signal="open",
            last_signal_at=at,
        )
        _history(ticket, actor, "open", None, "open", note or summary, at)
        self._add_affected(s, ticket, campus, affected, at)
        s.add(ticket)
        s.flush()
        self._emit(s, ticket, "opened")
        return Opened(ticket.id, created=True, event="opened")

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
        """Recovery: resolve the active ticket for this problem, saying it was automatic.

        A flapping ticket only notes the recovery; `settle_flapping` resolves it once stable."""
        at = (at or utcnow()).astimezone(UTC)
        with self.db.session() as s:
            ticket = self.active(s, campus, device, problem, subject)
            if ticket is None:
                return None
            if ticket.last_signal != "resolve":  # since when it is recovered, not the latest say-so
                ticket.last_signal, ticket.last_signal_at = "resolve", at
            if ticket.flapping:
                return None
            self._resolve(s, ticket, note, at)
            return ticket.id

    def _resolve(self, s: Session, ticket: Ticket, note: str, at: datetime) -> None:
        _history(ticket, SYSTEM_ACTOR, "auto_resolve", ticket.status, "resolved", note, at)
        ticket.status = "resolved"
        ticket.resolved_at = at
        ticket.updated_at = at
        for a in ticket.affected:
            if a.recovered_at is None:
                a.recovered_at = at
        self._emit(s, ticket, "resolved")

    def settle_flapping(self, at: datetime | None = None) -> list[int]:
        """Resolve flapping tickets whose problem has been recovered for a whole flapping window."""
        at = (at or utcnow()).astimezone(UTC)
        done = []
        with self.db.session() as s:
            for t in s.scalars(
                select(Ticket).where(
                    Ticket.flapping.is_(True),
                    Ticket.status.in_(ACTIVE_STATES),
                    Ticket.last_signal == "resolve",
                )
            ):
                since = as_utc(t.last_signal_at)
                if since is not None and at - since >= self.flapping_window:
                    self._resolve(s, t, "resolved automatically: stable again after flapping", at)
                    done.append(t.id)
        return done

    def device_recovered(
        self, campus: str, device: str, note: str, at: datetime | None = None, *, own_groups: bool = True
    ) -> list[int]:
        """The device is back: mark it recovered in group tickets; resolve groups with all back, and
        (`own_groups`) the group ticket of a switch that is itself back."""
        at = (at or utcnow()).astimezone(UTC)
        resolved = []
        with self.db.session() as s:
            rows = s.scalars(
                select(TicketDevice)
                .join(Ticket, TicketDevice.ticket_id == Ticket.id)
                .where(
                    TicketDevice.campus == campus,
                    TicketDevice.device == device,
                    TicketDevice.recovered_at.is_(None),
                    Ticket.status.in_(ACTIVE_STATES),
                )
            ).all()
            for row in rows:
                row.recovered_at = at
            tickets = {row.ticket.id: row.ticket for row in rows}
            own = (
                s.scalars(
                    select(Ticket).where(
                        Ticket.campus == campus,
                        Ticket.device == device,
                        Ticket.problem.in_(GROUP_PROBLEMS),
                        Ticket.status.in_(ACTIVE_STATES),
                    )
                ).all()
                if own_groups
                else []
            )
            for t in own:  # the root cause itself is back: the whole group is resolved
                self._resolve(s, t, f"resolved automatically: {note}", at)
                resolved.append(t.id)
            for t in tickets.values():
                if t.status not in ACTIVE_STATES or t.problem not in GROUP_PROBLEMS:
                    continue
                if all(a.recovered_at is not None for a in t.affected):
                    self._resolve(s, t, "resolved automatically: every affected device is back", at)
                    resolved.append(t.id)
                else:
                    left = sum(a.recovered_at is None for a in t.affected)
                    _history(
                        t, SYSTEM_ACTOR, "recovered", None, None, f"{device} is back ({left} still down)", at
                    )
                    t.updated_at = at
        return resolved

    def transition(
        self, ticket_id: int, to: str, *, actor: str, note: str = "", at: datetime | None = None
    ) -> Ticket:
        at = (at or utcnow()).astimezone(UTC)
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
            elif to == "open":
                ticket.resolved_at = None
            if to in ("open", "resolved"):
                self._emit(s, ticket, "reopened" if to == "open" else "resolved")
            return ticket

    def note(self, ticket_id: int, text: str, *, actor: str, at: datetime | None = None) -> Ticket:
        if not text.strip():
            raise TicketError("an empty note says nothing")
        with self.db.session() as s:
            ticket = s.get(Ticket, ticket_id)
            if ticket is None:
                raise TicketError(f"no ticket #{ticket_id}")
            if ticket.status == "closed":
                raise TicketError(f"ticket #{ticket_id} is closed")
            at = (at or utcnow()).astimezone(UTC)
            _history(ticket, actor, "note", None, None, text, at)
            ticket.updated_at = at
            return ticket

    def open_manual(
        self,
        *,
        campus: str,
        summary: str,
        actor: str,
        device: str = "",
        room: str = "",
        severity: str = "warning",
        force: bool = False,
    ) -> Opened:
        """A person's report (a teacher: "the panel in room 302 is black"); a second report of the
        same device or room while one is active becomes a note on it. A device nobody has heard of
        (a typo) is refused unless `force`."""
        summary = summary.strip()
        room = room.strip()
        if not device and not room:
            raise TicketError("a manual ticket names a device or a room")
        if not summary:
            raise TicketError("the summary is empty: say in a sentence what is wrong")
        if not ID_RE.match(campus):
            raise TicketError(f"campus id {campus!r} is not valid (lowercase letters, digits, - and _)")
        if device and not ID_RE.match(device):
            raise TicketError(
                f"device id {device!r} is not valid: device ids are lowercase letters, digits, - and _ "
                "(at most 64), as in `campusmon devices`"
            )
        if len(room) > 64:
            raise TicketError(f"room {room[:20]!r}…: at most 64 characters")
        if device and not force:
            known = self.known_devices(campus)
            if device not in known:
                from campusmon.config import did_you_mean

                raise TicketError(
                    f"no device {device!r} in campus {campus!r}{did_you_mean(device, known)}; "
                    "see `campusmon devices`, or add --force to open it anyway"
                )
        return self.open(
            campus=campus,
            device=device,
            problem="manual",
            subject="" if device else room,
            room=room,
            severity=severity,
            summary=summary,
            actor=actor,
            note=summary,
            source="manual",
        )

    def known_devices(self, campus: str) -> set[str]:
        """Device ids of a campus that have reported, or that the asset register links to an asset."""
        from .register.models import Asset

        with self.db.session() as s:
            live = set(s.scalars(select(Device.device).where(Device.campus == campus)))
            linked = s.scalars(
                select(Asset.link_device).where(Asset.link_campus == campus, Asset.link_device.is_not(None))
            )
            return live | {d for d in linked if d}

    def list(
        self,
        *,
        status: Sequence[str] | None = None,
        campus: str | None = None,
        room: str | None = None,
        severity: Sequence[str] | None = None,
    ) -> list[Ticket]:
        with self.db.session() as s:
            q = select(Ticket).options(selectinload(Ticket.affected)).order_by(Ticket.id)
            if status:
                q = q.where(Ticket.status.in_(status))
            if campus:
                q = q.where(Ticket.campus == campus)
            if room:
                q = q.where(Ticket.room == room)
            if severity:
                q = q.where(Ticket.severity.in_(severity))
            return list(s.scalars(q))

    def get(self, ticket_id: int) -> Ticket:
        with self.db.session() as s:
            ticket = s.scalars(
                select(Ticket)
                .where(Ticket.id == ticket_id)
                .options(selectinload(Ticket.history), selectinload(Ticket.affected))
            ).first()
            if ticket is None:
                raise TicketError(f"no ticket #{ticket_id}")
            return ticket
