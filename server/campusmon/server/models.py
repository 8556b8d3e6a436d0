"""SQL model of live devices and fault tickets (SQLAlchemy 2; SQLite or PostgreSQL)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

#: where a ticket came from
TICKET_SOURCES = ("automatic", "manual", "teacher", "inspection")
#: a ticket in one of these states is "open" for the one-ticket-per-problem guarantee
ACTIVE_STATES = ("open", "acknowledged", "in_progress")
TICKET_STATES = (*ACTIVE_STATES, "resolved", "closed")
#: the ticket state machine: where each state may go; "closed" is final, "resolved" may reopen
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged", "in_progress", "resolved"),
    "acknowledged": ("in_progress", "resolved"),
    "in_progress": ("resolved", "acknowledged"),
    "resolved": ("closed", "open"),
    "closed": (),
}
_ACTIVE_SQL = "status IN ('open', 'acknowledged', 'in_progress')"


class TicketError(ValueError):
    """A ticket operation that is not allowed (unknown ticket, closed ticket, bad transition)."""


class Base(DeclarativeBase):
    pass


class Device(Base):
    """What the server knows live about one agent or probed device."""

    __tablename__ = "devices"
    __table_args__ = (UniqueConstraint("campus", "device", name="uq_devices_campus_device"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campus: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default="unknown")
    state_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    state_reason: Mapped[str | None] = mapped_column(String(200))
    last_seen: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_report_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: up to 2^53 (the contract's bound): BIGINT, PostgreSQL's INTEGER ends at 2^31
    last_seq: Mapped[int | None] = mapped_column(BigInteger)
    interval_s: Mapped[int | None] = mapped_column(Integer)
    agent: Mapped[str | None] = mapped_column(String(100))
    first_seen: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: the probe runner (device id, same campus) that observes this device; None for an agent
    observed_by: Mapped[str | None] = mapped_column(String(64))
    #: what orders the stored status by the device's clock: its `ts` and `connected` (status_order.py)
    status_ts: Mapped[float | None] = mapped_column(Float)
    status_connected: Mapped[float | None] = mapped_column(Float)
    #: lost in expected hours and not acted on yet (waiting for confirmation, or held)
    loss_pending: Mapped[bool] = mapped_column(Boolean, default=False)


class SeenEvent(Base):
    """An event already acted on, so a redelivery or a replay is not acted on again."""

    __tablename__ = "seen_events"

    campus: Mapped[str] = mapped_column(String(64), primary_key=True)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    #: sha256 of the event's content (its ts, kind, severity, message and data)
    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)


class DeviceHistory(Base):
    """Append-only record of what happened to a device (state changes, recorded not paged)."""

    __tablename__ = "device_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    device_id: Mapped[int] = mapped_column(ForeignKey("devices.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")


class Ticket(Base):
    """One fault. At most one active ticket per (campus, device, problem, subject): the index says so."""

    __tablename__ = "tickets"
    __table_args__ = (
        Index(
            "uq_tickets_one_active",
            "campus",
            "device",
            "problem",
            "subject",
            unique=True,
            sqlite_where=text(_ACTIVE_SQL),
            postgresql_where=text(_ACTIVE_SQL),
        ),
        Index("ix_tickets_status", "status"),
        Index("ix_tickets_updated_at", "updated_at"),
        # the console's colours: active tickets grouped per device, read from the index alone
        Index("ix_tickets_active_devices", "status", "campus", "device", "problem", "severity"),
        # a device's tickets (device page, teacher and inspection pages)
        Index("ix_tickets_campus_device", "campus", "device"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campus: Mapped[str] = mapped_column(String(64))
    #: empty string for a ticket about a room or campus rather than one device
    device: Mapped[str] = mapped_column(String(64), default="")
    problem: Mapped[str] = mapped_column(String(64))
    #: what part of the device (a mount point, a port); empty for the device as a whole
    subject: Mapped[str] = mapped_column(String(200), default="")
    severity: Mapped[str] = mapped_column(String(16), default="warning")
    status: Mapped[str] = mapped_column(String(16), default="open")
    summary: Mapped[str] = mapped_column(String(500))
    opened_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: the room a room ticket (or a manual report) is about
    room: Mapped[str] = mapped_column(String(64), default="")
    #: who opened it (the system, or the person behind a manual ticket)
    opened_by: Mapped[str] = mapped_column(String(100), default="")
    #: the problem kept coming and going: one flapping ticket instead of a stream of reopenings
    flapping: Mapped[bool] = mapped_column(Boolean, default=False)
    #: who raised it: automatic (a rule), manual (a technician), teacher (a room report), inspection
    source: Mapped[str] = mapped_column(String(16), default="automatic", server_default="automatic")
    #: the technician working on it (user name), empty when nobody is
    assignee: Mapped[str] = mapped_column(String(64), default="", server_default="")
    #: the last automatic signal ("open"/"resolve") and when, for flapping tickets
    last_signal: Mapped[str | None] = mapped_column(String(16))
    last_signal_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    history: Mapped[list[TicketHistory]] = relationship(
        back_populates="ticket", order_by="TicketHistory.id", cascade="all, delete-orphan"
    )
    affected: Mapped[list[TicketDevice]] = relationship(
        back_populates="ticket", order_by="TicketDevice.id", cascade="all, delete-orphan"
    )

    def set_state(
        self, to: str, *, actor: str, at: datetime, note: str = "", action: str | None = None
    ) -> TicketHistory:
        """Move to `to` if the state machine allows it, and record who, when and why (no I/O: the
        caller's session stores it). A closed ticket refuses every move; `action` names the history
        entry when it is not the state itself (auto_resolve, reopen)."""
        frm = self.status
        if frm == "closed":
            raise TicketError(f"ticket #{self.id} is closed; cannot go to {to} (closed is final)")
        if to not in TRANSITIONS.get(frm, ()):
            raise TicketError(f"ticket #{self.id} is {frm}; cannot go to {to}")
        name = action or ("reopen" if to == "open" else to)
        entry = self.record(name, note, actor=actor, at=at, frm=frm, to=to)
        self.status = to
        if to == "resolved":
            self.resolved_at = at
        elif to == "closed":
            self.closed_at = at
        elif to == "open":
            self.resolved_at = None
        return entry

    def record(
        self,
        action: str,
        note: str,
        *,
        actor: str,
        at: datetime,
        frm: str | None = None,
        to: str | None = None,
    ) -> TicketHistory:
        """One history entry (a note, a device joining or coming back) on a ticket that is not closed."""
        if self.status == "closed":
            raise TicketError(f"ticket #{self.id} is closed")
        entry = TicketHistory(at=at, actor=actor, action=action, from_status=frm, to_status=to, note=note)
        self.history.append(entry)
        self.updated_at = at
        return entry


class TicketHistory(Base):
    """Append-only: every transition and note of a ticket (who, when, what)."""

    __tablename__ = "ticket_history"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(32))
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str | None] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    ticket: Mapped[Ticket] = relationship(back_populates="history")


class TicketDevice(Base):
    """A device affected by a root-cause ticket (a switch down, a room dark)."""

    __tablename__ = "ticket_devices"
    __table_args__ = (UniqueConstraint("ticket_id", "campus", "device", name="uq_ticket_devices"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    campus: Mapped[str] = mapped_column(String(64))
    device: Mapped[str] = mapped_column(String(64), index=True)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    recovered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ticket: Mapped[Ticket] = relationship(back_populates="affected")


class NotifyOutbox(Base):
    """A notification to send, written in the ticket's own transaction; a sender thread delivers it."""

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_due", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    channel: Mapped[str] = mapped_column(String(64))
    #: opened, reopened, resolved, flapping
    event: Mapped[str] = mapped_column(String(16))
    #: pending, sent, failed (gave up after notify.max_age_hours)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    next_attempt_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    sent_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_error: Mapped[str] = mapped_column(Text, default="")


class DeadLetter(Base):
    """A valid message that could still not be stored (the database refused it, a bug met it): parked
    here and acknowledged, so one message never stops ingest. The same message again counts up."""

    __tablename__ = "dead_letters"
    __table_args__ = (UniqueConstraint("topic", "digest", name="uq_dead_letters_topic_digest"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    first_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    last_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    topic: Mapped[str] = mapped_column(String(256))
    #: sha256 of the whole payload: a redelivery of the same message finds its row
    digest: Mapped[str] = mapped_column(String(64))
    #: the payload as received, at most DEAD_LETTER_PAYLOAD_BYTES of it
    payload: Mapped[bytes] = mapped_column(LargeBinary)
    payload_bytes: Mapped[int] = mapped_column(Integer)
    #: the error, at most DEAD_LETTER_ERROR_CHARS
    error: Mapped[str] = mapped_column(Text)
    count: Mapped[int] = mapped_column(Integer, default=1)


class Lease(Base):
    """Who does what in a district: `campus:<id>` (its MQTT sessions and rules) or `job:<name>` (a
    scheduled job that must run once). Held by one worker until `expires_at`, renewed while it lives."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(80), primary_key=True)
    #: the worker holding it; None: free (released cleanly)
    holder: Mapped[str | None] = mapped_column(String(64))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    acquired_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    #: counts takeovers: a worker acting on an old generation knows it lost the lease
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class Worker(Base):
    """A live `campusmon server run` in a district (its heartbeat); shown by `campusmon server workers`."""

    __tablename__ = "workers"

    worker: Mapped[str] = mapped_column(String(64), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: alive until then (renewed with its leases, in the same transaction)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    #: cleanly stopped (its leases were released)
    stopped: Mapped[bool] = mapped_column(Boolean, default=False)
