"""The edge and the pipeline: validate every message, store it, run the rules, act on tickets."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.orm import Session

from campusmon.contract import ContractError, Event, Inventory, Metrics, Status, decode, parse_topic

from .config import ServerConfig
from .db import Database, as_utc
from .metrics_store import SqliteMetricStore
from .models import Device, DeviceHistory
from .register.service import RegisterService
from .rules import Action, ThresholdEvaluator, status_actions
from .tickets import TicketService

_log = logging.getLogger(__name__)


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


class RateLimitedLog:
    """At most `per_minute` log lines per key; the rest are only counted."""

    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self._window: dict[str, tuple[float, int]] = {}

    def allow(self, key: str, now: float) -> bool:
        start, n = self._window.get(key, (now, 0))
        if now - start >= 60:
            start, n = now, 0
        self._window[key] = (start, n + 1)
        return n < self.per_minute


class Ingestor:
    """Handles one MQTT message at a time (from one worker thread); never raises on bad input."""

    def __init__(self, config: ServerConfig, db: Database, metrics: SqliteMetricStore) -> None:
        self.config = config
        self.db = db
        self.metrics = metrics
        self.tickets = TicketService(db)
        #: the asset register; its `listeners` hear every inventory outcome (component changes)
        self.register = RegisterService(db)
        self.thresholds = ThresholdEvaluator(config.rules.thresholds)
        self.counters: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._reject_log = RateLimitedLog(config.ingest.reject_log_per_minute)
        self.root = config.broker.root

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    def handle(self, topic: str, raw: bytes, *, received: float | None = None) -> str:
        """Process one message; returns the outcome name that was counted."""
        received = received or time.time()
        try:
            t = parse_topic(topic, self.root)
            payload = decode(t, raw, max_bytes=self.config.ingest.max_payload_bytes)
        except ContractError as exc:
            return self._reject(exc, topic, received)
        if isinstance(payload, Status):
            outcome = self._status(payload, received)
        elif isinstance(payload, Metrics):
            outcome = self._metrics(payload, received)
        elif isinstance(payload, Inventory):
            outcome = self._touch(payload.campus, payload.device, received, "inventory")
            try:
                self.register.record_inventory(payload, _dt(received))
            except DataError as exc:  # a value the database refuses: the message is dropped, not the server
                outcome = "rejected_register_data"
                _log.warning(
                    "inventory of %s/%s not registered: %s", payload.campus, payload.device, exc.orig
                )
        elif isinstance(payload, Event):
            outcome = self._event(payload, received)
        self.count(outcome)
        return outcome

    def _reject(self, exc: ContractError, topic: str, now: float) -> str:
        outcome = f"rejected_{exc.reason}"
        self.count(outcome)
        if self._reject_log.allow(exc.reason, now):
            _log.warning("rejected message on %r: %s", topic[:200], str(exc)[:300])
        return outcome

    # -- devices -----------------------------------------------------------------------------
    def _device(self, s: Session, campus: str, device: str, now: datetime) -> Device:
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

    def _touch(self, campus: str, device: str, received: float, outcome: str) -> str:
        with self.db.session() as s:
            dev = self._device(s, campus, device, _dt(received))
            dev.last_seen = _dt(received)
        return f"accepted_{outcome}"

    def _status(self, st: Status, received: float) -> str:
        now = _dt(received)
        with self.db.session() as s:
            dev = self._device(s, st.campus, st.device, now)
            old = dev.state
            # the will's ts is when the agent connected: stamp `lost` with the time we received it
            since = now if st.state == "lost" else _dt(min(st.ts, received))
            if old == st.state:
                # retained statuses come again on every (re)subscribe: the stored state decides
                return "duplicate_status"
            last = as_utc(dev.state_since)
            if st.state != "lost" and last is not None and since < last:
                return "stale_status"
            dev.state = st.state
            dev.state_since = since
            dev.state_reason = st.reason
            dev.last_seen = now
            if st.interval:
                dev.interval_s = st.interval
            if st.agent:
                dev.agent = st.agent
            s.add(
                DeviceHistory(
                    device_id=dev.id,
                    at=now,
                    kind=f"status_{st.state}",
                    detail=f"{old} -> {st.state}" + (f" ({st.reason})" if st.reason else ""),
                )
            )
        if self.config.rules.device_down:
            self._act(st.campus, st.device, status_actions(st.device, old, st.state, st.reason), now)
        return "accepted_status"

    def _metrics(self, m: Metrics, received: float) -> str:
        if not self.metrics.record(m, received):
            return "duplicate_report"
        now = _dt(received)
        with self.db.session() as s:
            dev = self._device(s, m.campus, m.device, now)
            dev.last_seen = now
            dev.interval_s = m.interval
            if dev.last_seq is None or m.seq > dev.last_seq:
                dev.last_seq = m.seq
                dev.last_report_ts = _dt(m.ts)
        if received - m.ts > m.interval * self.config.ingest.stale_intervals:
            return "accepted_stale_report"  # a replay from the agent's buffer: stored, never alerted

        def raised_before(problem: str, subject: str) -> bool:
            with self.db.session() as s:
                return TicketService.active(s, m.campus, m.device, problem, subject) is not None

        actions = self.thresholds.evaluate(m.campus, m.device, m.ts, m.metrics, raised_before)
        self._act(m.campus, m.device, actions, now)
        return "accepted_metrics"

    def _event(self, ev: Event, received: float) -> str:
        with self.db.session() as s:
            dev = self._device(s, ev.campus, ev.device, _dt(received))
            dev.last_seen = _dt(received)
            s.add(
                DeviceHistory(
                    device_id=dev.id,
                    at=_dt(ev.ts),
                    kind=f"event_{ev.kind}"[:32],
                    detail=f"[{ev.severity}] {ev.message}",
                )
            )
        return "accepted_event"

    def _act(self, campus: str, device: str, actions: list[Action], now: datetime) -> None:
        for a in actions:
            if a.verdict == "open":
                opened = self.tickets.open(
                    campus=campus,
                    device=device,
                    problem=a.problem,
                    subject=a.subject,
                    severity=a.severity,
                    summary=a.summary,
                    at=now,
                )
                if opened.created:
                    self.count("tickets_opened")
                    _log.warning("ticket #%s opened: %s", opened.ticket_id, a.summary)
            else:
                tid = self.tickets.resolve_auto(
                    campus=campus,
                    device=device,
                    problem=a.problem,
                    subject=a.subject,
                    note=f"resolved automatically: {a.summary}",
                    at=now,
                )
                if tid is not None:
                    self.count("tickets_resolved")
                    _log.info("ticket #%s resolved automatically: %s", tid, a.summary)
