"""The persistent outbox: routes ticket events to channels inside the ticket's transaction, and one
sender thread per channel delivers them with a rate limit, digests, and retries with backoff.

A channel that is down only delays its own thread; ingest never waits for it and nothing is lost.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, selectinload

from ..config import ChannelSettings, NotifySettings
from ..db import Database, as_utc, utcnow
from ..models import NotifyOutbox, Ticket
from .senders import SENDERS, DeliveryError, Sender
from .templates import Message, TicketInfo, render, render_digest

_log = logging.getLogger(__name__)


class Router:
    """Decides which channels hear about a ticket event; used as the ticket service's event hook."""

    def __init__(self, settings: NotifySettings) -> None:
        self.settings = settings
        self._pending = threading.Event()

    def take_pending(self) -> bool:
        """True once after something was enqueued (the caller then wakes the senders)."""
        if self._pending.is_set():
            self._pending.clear()
            return True
        return False

    def channels_for(self, campus: str, severity: str, event: str) -> list[str]:
        out: list[str] = []
        for route in self.settings.routes:
            if route.campuses and campus not in route.campuses:
                continue
            if route.severities and severity not in route.severities:
                continue
            if event not in route.events:
                continue
            out += [c for c in route.channels if c not in out]
        return out

    def __call__(self, s: Session, ticket: Ticket, event: str) -> None:
        now = utcnow()
        channels = self.channels_for(ticket.campus, ticket.severity, event)
        for ch in channels:
            s.add(
                NotifyOutbox(
                    ticket_id=ticket.id,
                    channel=ch,
                    event=event,
                    status="pending",
                    created_at=now,
                    next_attempt_at=now,
                    attempts=0,
                    last_error="",
                )
            )
        if channels:
            self._pending.set()


class TokenBucket:
    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.tokens = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.last = clock()

    def _refill(self) -> None:
        now = self.clock()
        self.tokens = min(self.capacity, self.tokens + (now - self.last) * self.rate)
        self.last = now

    def available(self) -> int:
        self._refill()
        return int(self.tokens)

    def take(self) -> None:
        self._refill()
        self.tokens -= 1

    def wait_seconds(self) -> float:
        self._refill()
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


def _info(t: Ticket) -> TicketInfo:
    at = as_utc(t.updated_at) or utcnow()
    return TicketInfo(
        id=t.id,
        campus=t.campus,
        device=t.device,
        room=t.room,
        problem=t.problem,
        subject=t.subject,
        severity=t.severity,
        status=t.status,
        summary=t.summary,
        at=at,
        affected=[a.device for a in t.affected],
    )


class ChannelWorker:
    """Delivers one channel's pending rows, in order, at most `rate_per_minute` messages a minute."""

    BATCH = 100

    def __init__(
        self,
        name: str,
        channel: ChannelSettings,
        settings: NotifySettings,
        db: Database,
        tz: ZoneInfo,
        sender: Sender | None = None,
    ) -> None:
        self.name = name
        self.channel = channel
        self.settings = settings
        self.db = db
        self.tz = tz
        self.sender = sender or SENDERS[channel.kind]
        self.lang = channel.language or settings.language
        self.bucket = TokenBucket(channel.rate_per_minute)
        self.wake = threading.Event()
        self.stopping = threading.Event()
        self.sent = 0
        self.failures = 0
        self.thread = threading.Thread(target=self._run, name=f"notify-{name}", daemon=True)

    def _due(self, s: Session, now: datetime) -> list[NotifyOutbox]:
        # several servers on one PostgreSQL: each row is claimed by one sender (SKIP LOCKED);
        # SQLite ignores FOR UPDATE and has one server
        return list(
            s.scalars(
                select(NotifyOutbox)
                .where(
                    NotifyOutbox.channel == self.name,
                    NotifyOutbox.status == "pending",
                    NotifyOutbox.next_attempt_at <= now,
                )
                .order_by(NotifyOutbox.id)
                .limit(self.BATCH)
                .with_for_update(skip_locked=True)
            )
        )

    def _message(self, s: Session, rows: list[NotifyOutbox]) -> Message | None:
        ids = {r.ticket_id for r in rows}
        tickets = {
            t.id: _info(t)
            for t in s.scalars(
                select(Ticket).where(Ticket.id.in_(ids)).options(selectinload(Ticket.affected))
            )
        }
        items = [(tickets[r.ticket_id], r.event) for r in rows if r.ticket_id in tickets]
        if not items:
            return None
        if len(items) == 1:
            t, event = items[0]
            return render(t, event, self.lang, self.tz, self.settings.ticket_url)
        return render_digest(items, self.lang, self.tz, self.settings.ticket_url)

    def deliver_once(self) -> float:
        """Send what is due (one message, or one digest); returns how long to wait before the next try.

        The rows stay claimed (locked on PostgreSQL) from selection until they are marked."""
        now = utcnow()
        with self.db.session() as s:
            rows = self._due(s, now)
            if not rows:
                return self.settings.poll_seconds
            wait = self.bucket.wait_seconds()
            if wait > 0:
                return wait
            # many waiting, or not enough budget left to send them one by one: one digest for them all
            if len(rows) >= self.channel.digest_min or len(rows) > self.bucket.available():
                batch = rows
            else:
                batch = rows[:1]
            msg = self._message(s, batch)
            if msg is None:
                return 0.0
            self.bucket.take()
            try:
                self.sender(self.channel, msg)
            except DeliveryError as exc:
                self.failures += 1
                self._failed(batch, str(exc), now)
                _log.warning("notification channel %s: %s (will retry)", self.name, exc)
                return 0.0
            self.sent += 1
            for row in batch:
                row.status = "sent"
                row.sent_at = utcnow()
                row.attempts += 1
        return 0.0

    def _failed(self, batch: list[NotifyOutbox], error: str, now: datetime) -> None:
        max_age = timedelta(hours=self.settings.max_age_hours)
        for row in batch:
            row.attempts += 1
            row.last_error = error[:1000]
            backoff = min(2.0 * 2 ** (row.attempts - 1), self.settings.max_backoff_seconds)
            row.next_attempt_at = now + timedelta(seconds=backoff)
            created = as_utc(row.created_at) or now
            if now - created > max_age:
                row.status = "failed"
                _log.error(
                    "notification %s to %s given up after %s attempts", row.id, self.name, row.attempts
                )

    def _run(self) -> None:
        while not self.stopping.is_set():
            self.wake.clear()
            try:
                wait = self.deliver_once()
            except (OperationalError, sqlite3.OperationalError) as exc:
                _log.error("notification channel %s: database unavailable (%s); retrying", self.name, exc)
                wait = 5.0
            if wait > 0:
                self.wake.wait(wait)


class Dispatcher:
    """One worker per configured channel; `kick()` after a ticket event wakes them."""

    def __init__(self, settings: NotifySettings, db: Database, tz: ZoneInfo) -> None:
        self.workers = {
            name: ChannelWorker(name, ch, settings, db, tz) for name, ch in settings.channels.items()
        }

    def start(self) -> None:
        for w in self.workers.values():
            w.thread.start()

    def kick(self) -> None:
        for w in self.workers.values():
            w.wake.set()

    def stop(self) -> None:
        for w in self.workers.values():
            w.stopping.set()
            w.wake.set()
        for w in self.workers.values():
            if w.thread.is_alive():
                w.thread.join(timeout=15)
