"""District workers: campus and job leases in PostgreSQL, balanced across the live workers.

Every `renew_seconds` a worker, in one transaction on the database's clock: renews its heartbeat and
its leases (both to now + lease_seconds, so a dead worker's leases expire with its heartbeat), counts
the live workers, and takes free or expired campuses up to its fair share (FOR UPDATE SKIP LOCKED: two
workers never take the same one). Campuses above its share are handed back by the service once their
sessions are closed (`release`). Nothing here talks to the broker: the service acts on a `Tick`.
"""

from __future__ import annotations

import logging
import math
import os
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session

from campusmon.contract import ID_RE

from .db import Database, as_utc
from .models import Lease, Worker

_log = logging.getLogger(__name__)

CAMPUS = "campus:"
JOB = "job:"
#: scheduled jobs that must run on one worker of a district at a time
JOBS = ("inspections",)


def default_worker_id() -> str:
    host = "".join(c if c.isalnum() or c in "-_" else "-" for c in socket.gethostname().lower())
    return f"{host.strip('-_')[:50] or 'worker'}-{os.getpid()}"


def fair_share(items: int, workers: int) -> int:
    """At most this many campuses per worker: every campus can be owned, none worker holds far more."""
    return math.ceil(items / max(1, workers))


def to_shed(owned: Iterable[str], share: int) -> list[str]:
    """The campuses a worker hands back when it holds more than its share (the last by name)."""
    mine = sorted(owned)
    return mine[share:] if len(mine) > share else []


@dataclass(frozen=True, slots=True)
class Tick:
    """What one renewal found: this worker's campuses and jobs now, and what to do about them."""

    #: campuses leased to this worker after the tick (renewed or newly taken)
    campuses: frozenset[str]
    #: taken in this tick (their sessions are to be opened, state rebuilt)
    acquired: frozenset[str]
    #: above this worker's share: close their sessions, then `release` them
    shed: tuple[str, ...]
    jobs: frozenset[str]
    live_workers: int
    share: int


@dataclass(frozen=True, slots=True)
class LeaseRow:
    name: str
    holder: str | None
    expires_at: datetime | None
    acquired_at: datetime | None
    generation: int


@dataclass(frozen=True, slots=True)
class WorkerRow:
    worker: str
    host: str
    pid: int
    started_at: datetime | None
    heartbeat_at: datetime | None
    expires_at: datetime | None
    stopped: bool
    alive: bool
    campuses: tuple[str, ...] = field(default=())
    jobs: tuple[str, ...] = field(default=())


class LeaseBook:
    """One worker's view of the lease table (PostgreSQL: the district's workers share it)."""

    def __init__(self, db: Database, worker: str, lease_seconds: float) -> None:
        self.db = db
        self.worker = worker
        self.ttl = timedelta(seconds=lease_seconds)
        self.host = socket.gethostname()[:200]
        self.pid = os.getpid()
        self._registered = False

    @staticmethod
    def _now(s: Session) -> datetime:
        """The database's clock: workers on several machines agree on expiry without trusting theirs."""
        now = as_utc(s.scalar(select(func.now())))
        assert now is not None
        return now

    def tick(self, campuses: Iterable[str], *, acquire: bool = True) -> Tick:
        wanted = sorted(set(campuses))
        with self.db.session() as s:
            now = self._now(s)
            until = now + self.ttl
            self._heartbeat(s, now, until)
            names = [CAMPUS + c for c in wanted] + [JOB + j for j in JOBS]
            if names:
                s.execute(
                    pg_insert(Lease)
                    .values([{"name": n, "holder": None, "expires_at": now, "generation": 0} for n in names])
                    .on_conflict_do_nothing(index_elements=["name"])
                )
            held = set(
                s.scalars(
                    update(Lease)
                    .where(Lease.holder == self.worker)
                    .values(expires_at=until)
                    .returning(Lease.name)
                )
            )
            live = (
                s.scalar(
                    select(func.count())
                    .select_from(Worker)
                    .where(Worker.expires_at > now, Worker.stopped.is_(False))
                )
                or 1
            )
            owned = {n.removeprefix(CAMPUS) for n in held if n.startswith(CAMPUS)}
            share = fair_share(len(wanted), live)
            acquired: set[str] = set()
            if acquire and len(owned) < share:
                acquired = self._take(s, now, until, [CAMPUS + c for c in wanted], share - len(owned))
            jobs = {n.removeprefix(JOB) for n in held if n.startswith(JOB)}
            if acquire:
                got = self._take(s, now, until, [JOB + j for j in JOBS if j not in jobs], len(JOBS))
                jobs |= {n.removeprefix(JOB) for n in got}
        acquired_campuses = {n.removeprefix(CAMPUS) for n in acquired}
        mine = owned | acquired_campuses
        return Tick(
            campuses=frozenset(mine),
            acquired=frozenset(acquired_campuses),
            shed=tuple(to_shed(mine, share)),
            jobs=frozenset(jobs),
            live_workers=int(live),
            share=share,
        )

    def _heartbeat(self, s: Session, now: datetime, until: datetime) -> None:
        values = {
            "worker": self.worker,
            "host": self.host,
            "pid": self.pid,
            "started_at": now,
            "heartbeat_at": now,
            "expires_at": until,
            "stopped": False,
        }
        stmt = pg_insert(Worker).values(**values)
        keep = {k: v for k, v in values.items() if k not in ("worker", "started_at")}
        if not self._registered:
            keep["started_at"] = now
        s.execute(stmt.on_conflict_do_update(index_elements=["worker"], set_=keep))
        self._registered = True

    def _take(self, s: Session, now: datetime, until: datetime, names: Sequence[str], limit: int) -> set[str]:
        if not names or limit <= 0:
            return set()
        free = list(
            s.scalars(
                select(Lease.name)
                .where(
                    Lease.name.in_(names),
                    (Lease.holder.is_(None)) | (Lease.expires_at <= now),
                )
                .order_by(Lease.name)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        if not free:
            return set()
        s.execute(
            update(Lease)
            .where(Lease.name.in_(free))
            .values(
                holder=self.worker,
                expires_at=until,
                acquired_at=now,
                generation=Lease.generation + 1,
            )
        )
        return set(free)

    def holds(self, campus: str) -> bool:
        """Is the campus's lease ours right now (checked before its sessions are opened)?"""
        with self.db.session() as s:
            now = self._now(s)
            row = s.get(Lease, CAMPUS + campus)
            expires = as_utc(row.expires_at) if row is not None else None
            return row is not None and row.holder == self.worker and expires is not None and expires > now

    def release(self, campuses: Iterable[str] = (), jobs: Iterable[str] = ()) -> None:
        """Hand leases back at once (their sessions are closed): another worker takes them next tick."""
        names = [CAMPUS + c for c in campuses] + [JOB + j for j in jobs]
        if not names:
            return
        with self.db.session() as s:
            now = self._now(s)
            s.execute(
                update(Lease)
                .where(Lease.name.in_(names), Lease.holder == self.worker)
                .values(holder=None, expires_at=now)
            )

    def leave(self) -> None:
        """A clean stop: every lease back, the worker no longer counted among the live ones."""
        with self.db.session() as s:
            now = self._now(s)
            s.execute(update(Lease).where(Lease.holder == self.worker).values(holder=None, expires_at=now))
            s.execute(
                update(Worker)
                .where(Worker.worker == self.worker)
                .values(stopped=True, expires_at=now, heartbeat_at=now)
            )


def overview(db: Database) -> tuple[list[WorkerRow], list[LeaseRow], datetime]:
    """Workers (live first) with what each holds, every lease, and the database's time."""
    with db.session() as s:
        now = as_utc(s.scalar(select(func.now()))) if db.engine.dialect.name == "postgresql" else None
        if now is None:
            from .db import utcnow

            now = utcnow()
        leases = [
            LeaseRow(x.name, x.holder, as_utc(x.expires_at), as_utc(x.acquired_at), x.generation)
            for x in s.scalars(select(Lease).order_by(Lease.name))
        ]
        rows = list(s.scalars(select(Worker).order_by(Worker.worker)))
    out: list[WorkerRow] = []
    for w in rows:
        expires = as_utc(w.expires_at)
        alive = not w.stopped and expires is not None and expires > now

        held = [
            x.name for x in leases if x.holder == w.worker and x.expires_at is not None and x.expires_at > now
        ]

        out.append(
            WorkerRow(
                worker=w.worker,
                host=w.host,
                pid=w.pid,
                started_at=as_utc(w.started_at),
                heartbeat_at=as_utc(w.heartbeat_at),
                expires_at=expires,
                stopped=w.stopped,
                alive=alive,
                campuses=tuple(n.removeprefix(CAMPUS) for n in held if n.startswith(CAMPUS)),
                jobs=tuple(n.removeprefix(JOB) for n in held if n.startswith(JOB)),
            )
        )
    out.sort(key=lambda r: (not r.alive, r.worker))
    return out, leases, now


#: MQTT v5 DISCONNECT reason: another client connected with the same id
SESSION_TAKEN_OVER = 142
#: where a campus broker's bridge says whether its link to us is up ("1") or down ("0", its will):
#: `notification_topic` in the bridge's Mosquitto config; `$bridge` can be no campus's device id
BRIDGE_LEVEL = "$bridge"


def bridge_topic(root: str, campus: str) -> str:
    return f"{root}/{BRIDGE_LEVEL}/{campus}/state"


def is_bridge_topic(root: str, topic: str) -> str | None:
    """The campus whose bridge state this topic carries, or None."""
    parts = topic.split("/")
    if len(parts) == 4 and parts[0] == root and parts[1] == BRIDGE_LEVEL and parts[3] == "state":
        return parts[2] if ID_RE.match(parts[2]) else None
    return None
