"""The engine's actions carried out: tickets (with their notifications, written in the ticket's own
transaction by the outbox hook), device history, and the engine's memory kept between events."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .db import Database
from .engine import (
    Action,
    DeviceBack,
    MarkStale,
    OpenTicket,
    RecordHistory,
    ResolveTicket,
    ThresholdKey,
    ThresholdMoved,
    ThresholdState,
)
from .models import Device, DeviceHistory
from .tickets import DOWN_PROBLEMS, SYSTEM_ACTOR, TicketService

_log = logging.getLogger(__name__)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def device_row(s: Session, campus: str, device: str, now: datetime) -> Device:
    """The device's row, made on first sight (another writer making it first is fine)."""
    dev = s.scalars(select(Device).where(Device.campus == campus, Device.device == device)).first()
    if dev is None:
        dev = Device(campus=campus, device=device, state="unknown", first_seen=now)
        s.add(dev)
        try:
            with s.begin_nested():
                s.flush()
        except IntegrityError:
            dev = s.scalars(select(Device).where(Device.campus == campus, Device.device == device)).one()
    return dev


@dataclass
class EngineMemory:
    """What the engine remembers between events in this process (handed to it in each snapshot)."""

    thresholds: dict[ThresholdKey, ThresholdState] = field(default_factory=dict)
    #: devices with report_stale raised
    stale: set[tuple[str, str]] = field(default_factory=set)

    def forget_campus(self, campus: str) -> None:
        """Another process acts for this campus now."""
        self.stale = {k for k in self.stale if k[0] != campus}
        for key in [k for k in self.thresholds if k[1] == campus]:
            del self.thresholds[key]


class Effects:
    """Applies actions in order; `count` is the ingest's counter (tickets_opened, tickets_resolved)."""

    def __init__(
        self, db: Database, tickets: TicketService, memory: EngineMemory, count: Callable[[str], None]
    ) -> None:
        self.db = db
        self.tickets = tickets
        self.memory = memory
        self.count = count

    def apply(self, actions: Iterable[Action], at: float) -> None:
        now = _dt(at)
        for a in actions:
            if isinstance(a, ThresholdMoved):
                self.memory.thresholds[a.key] = a.state
            elif isinstance(a, MarkStale):
                if a.stale:
                    self.memory.stale.add((a.campus, a.device))
                else:
                    self.memory.stale.discard((a.campus, a.device))
            elif isinstance(a, OpenTicket):
                self.open(a, now)
            elif isinstance(a, ResolveTicket):
                self.resolve(a, now)
            elif isinstance(a, RecordHistory):
                self.record(a.campus, a.device, a.problem, a.summary, now)
            elif isinstance(a, DeviceBack):
                for tid in self.tickets.device_recovered(
                    a.campus, a.device, a.why, at=now, own_groups=a.own_groups
                ):
                    self.count("tickets_resolved")
                    _log.info("group ticket #%s resolved automatically", tid)

    def open(self, a: OpenTicket, now: datetime) -> None:
        opened = self.tickets.open(
            campus=a.campus,
            device=a.device,
            problem=a.problem,
            subject=a.subject,
            severity=a.severity,
            summary=a.summary,
            room=a.room,
            affected=a.affected,
            at=now,
        )
        if a.absorb:  # own down tickets opened before the group formed are resolved into it
            for d in a.affected:
                for problem in DOWN_PROBLEMS:
                    self.tickets.resolve_auto(
                        campus=a.campus,
                        device=d,
                        problem=problem,
                        note=f"part of ticket #{opened.ticket_id}",
                        at=now,
                    )
        if a.extra and not opened.created and opened.event is None:
            # the ticket is still active (nobody looked yet): it gains this news as a note
            self.tickets.note(opened.ticket_id, a.extra, actor=SYSTEM_ACTOR, at=now)
        self.opened(opened.created, opened.ticket_id, a.what or a.summary)

    def resolve(self, a: ResolveTicket, now: datetime) -> None:
        tid = self.tickets.resolve_auto(
            campus=a.campus, device=a.device, problem=a.problem, subject=a.subject, note=a.note, at=now
        )
        if tid is not None:
            self.count("tickets_resolved")
            _log.info("ticket #%s resolved automatically: %s", tid, a.note)

    def opened(self, created: bool, ticket_id: int, what: str) -> None:
        if created:
            self.count("tickets_opened")
            _log.warning("ticket #%s opened: %s", ticket_id, what)

    def record(self, campus: str, device: str, problem: str, summary: str, now: datetime) -> None:
        """A condition recorded, not ticketed: one line in the device's history."""
        with self.db.session() as s:
            dev = device_row(s, campus, device, now)
            s.add(DeviceHistory(device_id=dev.id, at=now, kind=f"rule_{problem}"[:32], detail=summary))
