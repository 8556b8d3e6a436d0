"""Everything a request handler needs, built once per app: config, services, secrets, health probes."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..config import ServerConfig
from ..db import Database
from ..inspections.service import DueEntry, InspectionService
from ..metrics import SqliteMetricStore
from ..services.assets import AssetService
from ..services.devices import DeviceService
from ..services.photos import PhotoStore
from ..services.probes import ProbeService
from ..services.series import metric_source
from ..services.tickets import TicketQueries
from ..services.users import LoginThrottle, UserService
from ..tickets import EventHook, TicketService

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Health:
    broker_connected: bool
    #: messages received and not yet stored
    ingest_backlog: int
    #: seconds the oldest waiting message has waited (0 when none)
    ingest_lag_seconds: float
    counters: dict[str, int] = field(default_factory=dict)
    #: checks of the in-process probe runner since start by (check kind, result code)
    probe_results: dict[tuple[str, str], int] = field(default_factory=dict)


def _no_health() -> Health:
    return Health(broker_connected=False, ingest_backlog=0, ingest_lag_seconds=0.0)


class RoomRateLimit:
    """At most `per_hour` teacher reports per room in any hour (sliding window, in memory)."""

    def __init__(self, per_hour: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_hour = per_hour
        self.clock = clock
        self._hits: dict[int, list[float]] = {}
        self._lock = threading.Lock()

    def allow(self, room_id: int) -> bool:
        now = self.clock()
        with self._lock:
            hits = [t for t in self._hits.get(room_id, []) if now - t < 3600]
            if len(hits) >= self.per_hour:
                self._hits[room_id] = hits
                return False
            hits.append(now)
            self._hits[room_id] = hits
            return True


def load_secret(config: ServerConfig) -> bytes:
    """The session-signing key: from the config, or a random one kept in data_dir/web-secret (0600)."""
    if config.http.secret_key:
        return config.http.secret_key.encode()
    path: Path = config.storage.data_dir / "web-secret"
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    key = secrets.token_urlsafe(48).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    _log.info("created the session key %s", path)
    return key


class WebContext:
    def __init__(
        self,
        config: ServerConfig,
        db: Database,
        metrics: SqliteMetricStore | None,
        *,
        on_event: EventHook | None = None,
        after_change: Callable[[], None] | None = None,
        health: Callable[[], Health] = _no_health,
        clock: Callable[[], float] = time.time,
        secret: bytes | None = None,
    ) -> None:
        self.config = config
        self.http = config.http
        self.db = db
        #: the metric store (its counters go to /metrics)
        self.metrics = metrics
        self.users = UserService(db)
        self.devices = DeviceService(db, config, metric_source(metrics) if metrics else None, clock)
        self.tickets = TicketQueries(db, on_event=on_event, after_change=after_change)
        self.assets = AssetService(db)
        self.probes = ProbeService(db)
        self.throttle = LoginThrottle(self.http.login_max_failures, self.http.login_lock_minutes * 60)
        self.room_limit = RoomRateLimit(self.http.teacher_reports_per_hour)
        self.health = health
        self.secret = secret if secret is not None else load_secret(config)
        self.inspections = self._inspections(metrics, on_event, clock)
        self.photos = PhotoStore(config.storage.data_dir)
        self.after_change = after_change or (lambda: None)
        self._schedule: tuple[float, list[DueEntry]] | None = None
        self._schedule_lock = threading.Lock()

    def _inspections(
        self, metrics: SqliteMetricStore | None, on_event: EventHook | None, clock: Callable[[], float]
    ) -> InspectionService:
        """Built as the CLI builds it: the same plans, ticket rules and live data, so the phone page
        and `campusmon inspections` open and note the same tickets."""
        from zoneinfo import ZoneInfo

        from ..inspections.live import StoreLatest
        from ..inspections.plans import load_plans

        cfg, r = self.config, self.config.rules
        tickets = TicketService(
            self.db,
            reopen_window_seconds=r.reopen_window_seconds,
            flapping_count=r.flapping_count,
            flapping_window_seconds=r.flapping_window_seconds,
            on_event=on_event,
        )
        return InspectionService(
            self.db,
            load_plans(cfg.inspections.plans_file),
            tickets,
            tz=ZoneInfo(cfg.schedule.timezone),
            latest=StoreLatest(metrics) if metrics is not None else None,
            clock=clock,
            notify_overdue=cfg.inspections.notify_overdue,
            overdue_severity=cfg.inspections.overdue_severity,
        )

    #: how long the overview and the inspection list reuse the schedule (due dates move by days)
    SCHEDULE_CACHE_SECONDS = 60.0

    def schedule(self) -> list[DueEntry]:
        """Every covered room and asset with its due date (status `due` within [inspections]
        due_within_days), computed at most once a minute: 10,000 assets take ~80 ms. A round started
        or finished here clears it at once; one started from the CLI shows within the minute."""
        now = time.monotonic()
        with self._schedule_lock:
            if self._schedule is not None and now - self._schedule[0] < self.SCHEDULE_CACHE_SECONDS:
                return self._schedule[1]
        entries = self.inspections.schedule(within_days=self.config.inspections.due_within_days)
        with self._schedule_lock:
            self._schedule = (now, entries)
        return entries

    def overdue(self) -> list[DueEntry]:
        """Overdue inspections, for the overview."""
        return [e for e in self.schedule() if e.status == "overdue"]

    def inspections_changed(self) -> None:
        with self._schedule_lock:
            self._schedule = None
        self.after_change()

    def public_url(self, fallback: str) -> str:
        return (self.http.public_url or fallback).rstrip("/")
