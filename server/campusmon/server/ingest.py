"""The edge and the pipeline: validate every message, store it, run the rules, act on tickets."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import bindparam, case, delete, func, or_, select, update
from sqlalchemy.exc import (
    DataError,
    IntegrityError,
    InterfaceError,
    InternalError,
    OperationalError,
    StatementError,
)
from sqlalchemy.orm import Session

from campusmon.contract import (
    ContractError,
    Event,
    Inventory,
    Metrics,
    Payload,
    Status,
    TsWindow,
    decode,
    encode,
    parse_topic,
)

from .config import BuiltinRuleSettings, ServerConfig, static_topology
from .db import Database, as_utc
from .metrics import MetricStore
from .metrics import Placement as MetricPlacement
from .models import ACTIVE_STATES, DeadLetter, Device, DeviceHistory, SeenEvent, Ticket
from .register.service import InventoryOutcome, RegisterService
from .register.topology import RegisterTopology
from .rules import (
    PERIPHERAL_BACK,
    PERIPHERAL_GONE,
    Action,
    DeviceFacts,
    ThresholdEvaluator,
    Verdict,
    peripheral_subject,
)
from .schedule import Expectation, compile_schedule
from .status_order import StatusMark, supersedes
from .tickets import DOWN_PROBLEMS, SYSTEM_ACTOR, EventHook, TicketService
from .topology import LayeredTopology, Placement, Topology

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


@dataclass(frozen=True, slots=True)
class _Liveness:
    """What the newest report of a device says about it, not yet written to its row."""

    seen: datetime
    interval: int
    seq: int
    report_ts: datetime


#: reports whose liveness is held in memory before a write is forced (it is also written every sweep)
LIVENESS_BATCH = 500
#: statuses received this long after the server's link to the broker came back are part of that
#: event (queued wills, retained statuses), not news
LINK_SETTLE_SECONDS = 15.0
#: a `lost` received this long before our own link to the broker dropped came with that event: a
#: broker stopping fires every will just before it closes our connection
LINK_PRE_SECONDS = 2.0
#: an event's mark is kept this long: a redelivery or replay within it is not acted on again
SEEN_EVENTS_DAYS = 30

#: the database is unavailable or in trouble, not refusing this message: never parked. The worker
#: retries OperationalError; anything else stops the server, and the broker redelivers the message
_UNAVAILABLE: tuple[type[BaseException], ...] = (
    OperationalError,
    InterfaceError,
    InternalError,
    sqlite3.OperationalError,
)
#: what storing one valid message can still raise that no retry fixes: the database refuses a value
#: (DataError, IntegrityError, a binding it cannot make), or a bug meets this message. The message is
#: parked in the dead-letter table and acknowledged instead of stopping ingest for good.
_POISON: tuple[type[BaseException], ...] = (
    StatementError,  # DataError, IntegrityError, ProgrammingError, a bind value it cannot convert
    sqlite3.DataError,
    sqlite3.IntegrityError,
    sqlite3.InterfaceError,
    sqlite3.ProgrammingError,
    ArithmeticError,  # OverflowError: a number or time past what a type holds
    ValueError,
    TypeError,
    LookupError,
    AttributeError,
    RecursionError,
)
#: at most this much of a dead letter's payload is kept (the rest is counted in payload_bytes)
DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024
DEAD_LETTER_ERROR_CHARS = 2000
#: past this many dead letters, new ones are only counted and logged (a flood must not fill the disk)
DEAD_LETTER_MAX_ROWS = 10_000


class Ingestor:
    """Handles one MQTT message at a time (from one worker thread); never raises on bad input.

    `clock` gives the current unix time (injectable, so tests can stand at 08:10 on a school day);
    `sweep()` runs the time-driven rules: should-be-on, stale reports, held device-down, grouping."""

    def __init__(
        self,
        config: ServerConfig,
        db: Database,
        metrics: MetricStore,
        *,
        topology: Topology | None = None,
        clock: Callable[[], float] = time.time,
        on_event: EventHook | None = None,
    ) -> None:
        self.config = config
        self.db = db
        self.metrics = metrics
        self.clock = clock
        #: the asset register: keeps each device's last inventory and its component changes
        self.register = RegisterService(db)
        self.topology: Topology = (
            topology
            if topology is not None
            else LayeredTopology([static_topology(config), RegisterTopology(db)])
        )
        self.schedule = compile_schedule(config.schedule)
        r = config.rules
        self.tickets = TicketService(
            db,
            reopen_window_seconds=r.reopen_window_seconds,
            flapping_count=r.flapping_count,
            flapping_window_seconds=r.flapping_window_seconds,
            on_event=on_event,
        )
        self.thresholds = ThresholdEvaluator(config.rules.thresholds)
        self.counters: Counter[str] = Counter()
        #: device row ids, and the liveness of reports not yet written (see flush_liveness)
        self._device_ids: dict[tuple[str, str], int] = {}
        self._liveness: dict[int, _Liveness] = {}
        self._lock = threading.Lock()
        self._reject_log = RateLimitedLog(config.ingest.reject_log_per_minute)
        self.root = config.broker.root
        self._stale: set[tuple[str, str]] = set()
        #: silence is counted from our own start at the earliest (we were not listening before)
        self.started = clock()
        #: our own link to the broker: down since, back since (None: never lost in this process)
        self.link_down_since: float | None = None
        self.link_up_since: float | None = None
        #: `lost` statuses that came with a broker/link event, held until the devices had time to
        #: come back: (campus, device) -> when received
        self._held: dict[tuple[str, str], float] = {}
        #: `lost` statuses waiting `rules.loss_confirm_seconds` (monotonic) before they are acted on:
        #: (campus, device) -> (when received, when due)
        self._confirming: dict[tuple[str, str], tuple[float, float]] = {}
        self._last_link_down: float | None = None
        with db.session() as s:
            for d in s.scalars(select(Device).where(Device.loss_pending.is_(True), Device.state == "lost")):
                # a loss this server stored but had not decided on when it stopped: decide it now
                since = as_utc(d.state_since)
                self._confirming[(d.campus, d.device)] = (
                    since.timestamp() if since is not None else self.started,
                    time.monotonic(),
                )
        self._next_prune = 0.0
        with db.session() as s:
            for t in s.scalars(
                select(Ticket).where(Ticket.problem == "report_stale", Ticket.status.in_(ACTIVE_STATES))
            ):
                self._stale.add((t.campus, t.device))

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    # -- where a device is, what the schedule and rules say about it ---------------------------------
    def facts(self, campus: str, device: str) -> DeviceFacts:
        room = self.topology.room_of(campus, device)
        if isinstance(self.topology, Placement):
            return DeviceFacts(
                room, self.topology.building_of(campus, device), self.topology.type_of(campus, device)
            )
        return DeviceFacts(room)

    def expectation(self, campus: str, device: str, ts: float) -> Expectation:
        f = self.facts(campus, device)
        return self.schedule.at(campus, device, ts, f.room, f.device_type)

    def rule(self, name: str, campus: str, device: str) -> BuiltinRuleSettings | None:
        """The built-in rule if it is on and applies to this device."""
        if name in ("device_down", "should_be_on", "report_stale") and not self.config.rules.device_down:
            return None
        rule = self.config.rules.builtin.get(name)
        if rule is None or not rule.enabled:
            return None
        if not self.facts(campus, device).in_scope(rule.scope, campus, device):
            return None
        return rule

    def handle(self, topic: str, raw: bytes, *, received: float | None = None, retained: bool = False) -> str:
        """Process one message; returns the outcome name that was counted. Raises only when the
        database is unavailable (the caller keeps the message and retries). `retained`: the broker
        delivered it from its retained store (on a (re)subscribe), not as it was published."""
        received = received or self.clock()
        ing = self.config.ingest
        try:
            t = parse_topic(topic, self.root)
            window = TsWindow(received, ing.ts_max_age_days * 86400.0, ing.ts_max_ahead_seconds)
            payload = decode(t, raw, max_bytes=ing.max_payload_bytes, window=window)
        except ContractError as exc:
            return self._reject(exc, topic, received)
        try:
            outcome = self._store(payload, received, retained)
        except _UNAVAILABLE:
            raise
        except _POISON as exc:
            return self._dead_letter(topic, raw, received, exc)
        self.count(outcome)
        return outcome

    def _store(self, payload: Payload, received: float, retained: bool = False) -> str:
        if isinstance(payload, Status):
            return self._status(payload, received)
        if isinstance(payload, Metrics):
            return self._metrics(payload, received)
        if isinstance(payload, Inventory):
            return self._inventory(payload, received)
        # an event is a happening, not a state: a retained copy is old news on every resubscribe
        return "retained_event" if retained else self._event(payload, received)

    def _dead_letter(self, topic: str, raw: bytes, received: float, exc: BaseException) -> str:
        """Park a message that could not be stored; the same message again counts up its row."""
        error = f"{type(exc).__name__}: {exc}".replace("\x00", "")
        error = error.encode("utf-8", "replace").decode("utf-8")[:DEAD_LETTER_ERROR_CHARS]
        if self._reject_log.allow("dead_letter", received):
            _log.error(
                "message on %r could not be stored; parked in dead_letters (see `campusmon server "
                "dead-letters`): %s",
                topic[:200],
                error[:500],
                exc_info=not isinstance(exc, StatementError | sqlite3.Error),
            )
        digest = hashlib.sha256(raw).hexdigest()
        now = _dt(received)
        outcome = "dead_letter_failed"
        for _attempt in range(2):  # a second server may insert the same message first
            try:
                outcome = self._park(topic, raw, digest, error, now)
            except IntegrityError:
                continue
            except _UNAVAILABLE:
                raise
            except _POISON as failed:  # not even the dead-letter row: log what we can, never stop
                outcome = "dead_letter_failed"
                _log.critical("message on %r lost: not storable, nor as a dead letter: %s", topic, failed)
            break
        self.count(outcome)
        return outcome

    def _park(self, topic: str, raw: bytes, digest: str, error: str, now: datetime) -> str:
        """One dead-letter row (or one more count on it); the outcome to count."""
        with self.db.session() as s:
            row = s.scalars(
                select(DeadLetter).where(DeadLetter.topic == topic, DeadLetter.digest == digest)
            ).first()
            if row is not None:
                row.count += 1
                row.last_at = now
                row.error = error
                return "dead_lettered"
            if (s.scalar(select(func.count()).select_from(DeadLetter)) or 0) >= DEAD_LETTER_MAX_ROWS:
                _log.error(
                    "dead_letters is full (%d rows): message on %r dropped", DEAD_LETTER_MAX_ROWS, topic
                )
                return "dead_letter_dropped"
            s.add(
                DeadLetter(
                    first_at=now,
                    last_at=now,
                    topic=topic,
                    digest=digest,
                    payload=raw[:DEAD_LETTER_PAYLOAD_BYTES],
                    payload_bytes=len(raw),
                    error=error,
                    count=1,
                )
            )
        return "dead_lettered"

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
        paged = False
        mark = StatusMark(st.state, st.ts, st.connected)
        with self.db.session() as s:
            dev = self._device(s, st.campus, st.device, now)
            if st.via is not None and dev.observed_by != st.via:
                dev.observed_by = st.via
            old = dev.state
            stored = (
                StatusMark(old, dev.status_ts, dev.status_connected) if dev.status_ts is not None else None
            )
            if not supersedes(mark, stored):
                # retained statuses come again on every (re)subscribe, and a status can arrive after a
                # newer one (the broker's queue): the device's own clock decides, not the arrival
                return "duplicate_status" if old == st.state else "stale_status"
            dev.status_ts, dev.status_connected = st.ts, st.connected
            if old == st.state:
                return "duplicate_status"  # e.g. an `online` of the next connection: no news
            # a loss not decided yet (waiting, held, or cut short by a crash) that this status ends
            pending = dev.loss_pending
            lost_at = as_utc(dev.state_since) if old == "lost" else None
            dev.loss_pending = False
            # the will's ts is when the agent connected: stamp `lost` with the time we received it
            since = now if st.state == "lost" else _dt(min(st.ts, received))
            dev.state = st.state
            dev.state_since = since
            dev.state_reason = st.reason
            dev.last_seen = now
            if st.interval:
                dev.interval_s = st.interval
            if st.agent:
                dev.agent = st.agent
            kind = f"status_{st.state}"
            if st.state == "lost":
                exp = self.expectation(st.campus, st.device, received)
                paged = exp.expected and exp.past_grace
                dev.loss_pending = paged  # cleared once decided: a crash before that decides again
                if not exp.expected:
                    kind = "lost_outside_hours"  # recorded, not paged
            s.add(
                DeviceHistory(
                    device_id=dev.id,
                    at=now,
                    kind=kind,
                    detail=f"{old} -> {st.state}" + (f" ({st.reason})" if st.reason else ""),
                )
            )
        key = (st.campus, st.device)
        if st.state != "online":
            self._unobserved(st.campus, st.device, st.state, now)
        if st.state == "lost":
            if paged:
                confirm = self.config.rules.loss_confirm_seconds
                if self._around_link_event(received):
                    self._held[key] = received  # the sweep decides once devices had time to return
                    self.count("lost_held")
                elif confirm > 0:
                    self._confirming[key] = (received, time.monotonic() + confirm)
                else:
                    self._lost(st.campus, st.device, received)
                    self._loss_decided([key])
        else:
            waiting = self._confirming.pop(key, None)
            held = self._held.pop(key, None)
            if held is not None:
                self.count("lost_held_back")
            elif pending and lost_at is not None:
                loss = waiting[0] if waiting is not None else lost_at.timestamp()
                if not self._link_dropped_around(loss):
                    # back before the wait was over (or the server died meanwhile): still a loss
                    self._lost(st.campus, st.device, loss)
            why = (
                "came back online"
                if st.state == "online"
                else f"shut down cleanly ({st.reason or 'no reason given'})"
            )
            self._recovered(st.campus, st.device, f"{st.device} {why}", now)
        return "accepted_status"

    # -- our own link to the broker ----------------------------------------------------------------
    def _around_link_event(self, received: float) -> bool:
        """Did this `lost` come with our link to the broker dropping (a broker stop fires every will)?"""
        if self.link_down_since is not None:
            return True
        return self.link_up_since is not None and received - self.link_up_since <= LINK_SETTLE_SECONDS

    def _in_link_grace(self, now_ts: float) -> bool:
        """Silence and absence mean nothing while the broker is away, nor until devices had time to
        reconnect after it came back."""
        if self.link_down_since is not None:
            return True
        grace = self.config.rules.link_grace_seconds
        return self.link_up_since is not None and now_ts - self.link_up_since < grace

    def next_due(self) -> float | None:
        """When (time.monotonic) the next `lost` waiting for confirmation is due, if any."""
        return min((due for _, due in self._confirming.values()), default=None)

    def release_due(self, mono_now: float | None = None) -> None:
        """Act on the `lost` statuses whose confirmation wait is over: a device loss, or part of a
        broker/link event if our own link dropped meanwhile (or just before)."""
        mono_now = time.monotonic() if mono_now is None else mono_now
        due = [(k, r) for k, (r, d) in self._confirming.items() if d <= mono_now]
        for key, received in due:
            if self._link_dropped_around(received):
                self._held[key] = received
                self.count("lost_held")
            else:
                try:
                    self._lost(*key, received)
                    self._loss_decided([key])
                except (OperationalError, sqlite3.OperationalError):
                    self._confirming[key] = (received, mono_now + 1.0)  # storage away: try again
                    raise
            del self._confirming[key]

    def _link_dropped_around(self, received: float) -> bool:
        """Is our link down, or did it drop just after this `lost` was received?"""
        last = self._last_link_down
        return self.link_down_since is not None or (last is not None and last >= received - LINK_PRE_SECONDS)

    def _loss_decided(self, keys: list[tuple[str, str]]) -> None:
        """These losses are acted on: a crash from now on does not decide them again."""
        with self.db.session() as s:
            for campus, device in keys:
                s.execute(
                    update(Device)
                    .where(Device.campus == campus, Device.device == device, Device.state == "lost")
                    .values(loss_pending=False)
                )

    def link_down(self, at: float) -> None:
        """Our connection to the broker dropped (called in message order, from the worker)."""
        self._last_link_down = at
        if self.link_down_since is None:
            self.link_down_since = at
            self.count("link_down")

    def link_up(self, at: float) -> None:
        """Our connection to the broker is back: end a broker ticket, start the grace for devices."""
        if self.link_down_since is None:
            return
        down_for = at - self.link_down_since
        self.link_down_since = None
        self.link_up_since = at
        self.count("link_up")
        tid = self.tickets.resolve_auto(
            campus="",
            device="",
            problem="broker_down",
            subject=self._broker_name,
            note=f"resolved automatically: the broker is reachable again after {down_for:.0f} s",
            at=_dt(at),
        )
        if tid is not None:
            self.count("tickets_resolved")
            _log.info("ticket #%s resolved automatically: broker back", tid)

    @property
    def _broker_name(self) -> str:
        b = self.config.broker
        return f"{b.host}:{b.port}"[:200]

    def _link_sweep(self, now_ts: float) -> None:
        """One ticket for a broker away too long; held losses that did not come back go on as losses."""
        rules = self.config.rules
        if self.link_down_since is not None:
            down_for = now_ts - self.link_down_since
            if down_for >= rules.broker_down_after_seconds:
                summary = f"the broker {self._broker_name} is unreachable (for {down_for:.0f} s so far)"
                opened = self.tickets.open(
                    campus="",
                    device="",
                    problem="broker_down",
                    subject=self._broker_name,
                    summary=summary,
                    severity="critical",
                    at=_dt(now_ts),
                )
                self._note_opened(opened.created, opened.ticket_id, summary)
            return
        if not self._held or self._in_link_grace(now_ts):
            return
        due = [k for k, at in self._held.items() if now_ts - at >= rules.link_grace_seconds]
        if not due:
            return
        with self.db.session() as s:
            lost = {
                (d.campus, d.device)
                for d in s.scalars(select(Device).where(Device.state == "lost"))
                if (d.campus, d.device) in self._held
            }
        by_campus: dict[str, list[str]] = defaultdict(list)
        for key in due:
            if key in lost:
                by_campus[key[0]].append(key[1])
        for campus, devices in sorted(by_campus.items()):
            rooms = {self.topology.room_of(campus, d) or f"?{d}" for d in devices}
            if len(devices) >= rules.group_min_devices and len(rooms) > 1:
                # many rooms still away after the broker came back: their way to the broker, not them
                summary = (
                    f"{len(devices)} devices in {len(rooms)} rooms did not come back after the broker "
                    "returned (campus link or campus broker?)"
                )
                opened = self.tickets.open(
                    campus=campus,
                    device="",
                    problem="link_down",
                    summary=summary,
                    severity="critical",
                    affected=sorted(devices),
                    at=_dt(now_ts),
                )
                self._note_opened(opened.created, opened.ticket_id, f"campus {campus}: {summary}")
            else:
                for device in devices:
                    self._lost(campus, device, now_ts)
        self._loss_decided(due)
        for key in due:
            del self._held[key]

    def _unobserved(self, campus: str, runner: str, state: str, now: datetime) -> None:
        """A probe runner stopped or died: the targets it saw online follow it to `unknown` (nobody
        observes them now), so they raise no ticket of their own; the runner's status is the one fault.
        They come back with the runner, which publishes what it observes again."""
        why = "stopped" if state == "shutdown" else "lost"
        with self.db.session() as s:
            targets = list(
                s.scalars(
                    select(Device).where(
                        Device.campus == campus, Device.observed_by == runner, Device.state == "online"
                    )
                )
            )
            for t in targets:
                t.state, t.state_since = "unknown", now
                t.state_reason = f"not observed: probe runner {runner} {why}"
                s.add(DeviceHistory(device_id=t.id, at=now, kind="status_unobserved", detail=t.state_reason))
                self._stale.discard((campus, t.device))
        if targets:
            _log.info("%d targets of probe runner %s/%s are not observed now", len(targets), campus, runner)

    # -- device down, root cause ------------------------------------------------------------------
    def _groupable(self, campus: str, device: str) -> bool:
        """Could this device's loss be part of a group (it has an upstream, or a room with company)?"""
        if self.topology.upstream_of(campus, device) is not None:
            return True
        return self.topology.room_of(campus, device) is not None

    def _lost(self, campus: str, device: str, received: float) -> None:
        """A device went `lost` in expected hours: attach to its cause, group, or open its own ticket."""
        rule = self.rule("device_down", campus, device)
        if rule is None:
            return
        if self._attach_to_switch(campus, device, received):
            return
        if self._group([(campus, device)], received):
            return
        if not self._groupable(campus, device) or self.config.rules.group_hold_seconds <= 0:
            self._open_down(campus, device, "device_down", received, rule)
        # else: held; the sweep opens its own ticket if no group forms within group_hold_seconds

    def _attach_to_switch(self, campus: str, device: str, received: float) -> bool:
        up = self.topology.upstream_of(campus, device)
        if up is None:
            return False
        with self.db.session() as s:
            switch = s.scalars(
                select(Device).where(Device.campus == campus, Device.device == up.switch)
            ).first()
            switch_down = switch is not None and switch.state == "lost"
            cause = TicketService.covering(s, campus, up.switch)
        if cause is None and not switch_down:
            return False
        now = _dt(received)
        if cause is not None:
            opened = self.tickets.open(
                campus=campus,
                device=cause.device,
                problem=cause.problem,
                subject=cause.subject,
                summary=cause.summary,
                affected=[device],
                at=now,
            )
        else:
            opened = self.tickets.open(
                campus=campus,
                device=up.switch,
                problem="upstream_down",
                summary=f"switch {up.switch} is down: devices behind it are offline",
                severity="critical",
                room=self.topology.room_of(campus, up.switch) or "",
                affected=[device],
                at=now,
            )
        self._note_opened(opened.created, opened.ticket_id, f"{device} behind {up.switch}")
        return True

    def _recent_lost(self, campus: str, received: float) -> list[str]:
        since = _dt(received - self.config.rules.group_window_seconds)
        with self.db.session() as s:
            return list(
                s.scalars(
                    select(Device.device).where(
                        Device.campus == campus, Device.state == "lost", Device.state_since >= since
                    )
                )
            )

    def _group(
        self, candidates: list[tuple[str, str]], received: float, problem: str = "device_down"
    ) -> bool:
        """Group the candidates (plus devices lost within the window) by switch, then by room; a group of
        at least `group_min_devices` gets one ticket. Returns True when every candidate was grouped."""
        n_min = self.config.rules.group_min_devices
        grouped: set[tuple[str, str]] = set()
        for campus in sorted({c for c, _ in candidates}):
            topo = self.topology
            mine = [d for c, d in candidates if c == campus]
            switches = {up.switch for d in mine if (up := topo.upstream_of(campus, d)) is not None}
            rooms = {r for d in mine if (r := topo.room_of(campus, d)) is not None}
            if not switches and not rooms:
                continue  # nothing to group these devices with
            others = {
                d
                for d in self._recent_lost(campus, received)
                if d not in mine and self._related(campus, d, switches, rooms)
            }
            with self.db.session() as s:
                # devices already in a group (or the cause of one) stay there; own tickets are absorbed
                others = {d for d in others if self._own_or_none(TicketService.covering(s, campus, d), d)}
            pool = sorted(set(mine) | others)
            by_switch: dict[str, list[str]] = defaultdict(list)
            by_room: dict[str, list[str]] = defaultdict(list)
            for d in pool:
                up = self.topology.upstream_of(campus, d)
                if up is not None:
                    by_switch[up.switch].append(d)
                room = self.topology.room_of(campus, d)
                if room is not None:
                    by_room[room].append(d)
            now = _dt(received)
            for switch, devs in sorted(by_switch.items()):
                if len(devs) < n_min or not set(devs) & set(mine):
                    continue
                seen_rooms = {self.topology.room_of(campus, d) for d in devs}
                room = seen_rooms.pop() if len(seen_rooms) == 1 else ""
                opened = self.tickets.open(
                    campus=campus,
                    device=switch,
                    problem="upstream_down",
                    summary=f"{len(devs)} devices behind switch {switch} went offline together"
                    + (f" (room {room})" if room else ""),
                    severity="critical",
                    room=room or "",
                    affected=devs,
                    at=now,
                )
                self._absorb(campus, devs, opened.ticket_id, now)
                self._note_opened(opened.created, opened.ticket_id, f"switch {switch}")
                grouped |= {(campus, d) for d in devs}
            for room, in_room in sorted(by_room.items()):
                devs = [d for d in in_room if (campus, d) not in grouped]
                if not set(devs) & set(mine):
                    continue
                if len(devs) < n_min:
                    with self.db.session() as s:
                        # the room already has its ticket: a device lost after the group formed joins it
                        joins = TicketService.active(s, campus, "", "room_down", room) is not None
                    if not joins:
                        continue
                what = "went offline together" if problem == "device_down" else "are not on in school hours"
                opened = self.tickets.open(
                    campus=campus,
                    device="",
                    problem="room_down",
                    subject=room,
                    room=room,
                    summary=f"{len(devs)} devices in room {room} {what}",
                    severity="critical",
                    affected=devs,
                    at=now,
                )
                self._absorb(campus, devs, opened.ticket_id, now)
                self._note_opened(opened.created, opened.ticket_id, f"room {room}")
                grouped |= {(campus, d) for d in devs}
        return all(c in grouped for c in candidates)

    def _related(self, campus: str, device: str, switches: set[str], rooms: set[str]) -> bool:
        up = self.topology.upstream_of(campus, device)
        return (up is not None and up.switch in switches) or self.topology.room_of(campus, device) in rooms

    @staticmethod
    def _own_or_none(ticket: Ticket | None, device: str) -> bool:
        return ticket is None or (ticket.device == device and ticket.problem in DOWN_PROBLEMS)

    def _absorb(self, campus: str, devices: list[str], group_id: int, now: datetime) -> None:
        """Own device tickets opened before the group formed are resolved into the group's ticket."""
        for d in devices:
            for problem in DOWN_PROBLEMS:
                self.tickets.resolve_auto(
                    campus=campus, device=d, problem=problem, note=f"part of ticket #{group_id}", at=now
                )

    def _open_down(
        self, campus: str, device: str, problem: str, received: float, rule: BuiltinRuleSettings
    ) -> None:
        now = _dt(received)
        summary = (
            f"{device} went offline without shutting down"
            if problem == "device_down"
            else f"{device} is not on in school hours"
        )
        if not rule.ticket:
            self._record(campus, device, problem, summary, now)
            return
        opened = self.tickets.open(
            campus=campus,
            device=device,
            problem=problem,
            summary=summary,
            severity=rule.severity,
            room=self.topology.room_of(campus, device) or "",
            at=now,
        )
        self._note_opened(opened.created, opened.ticket_id, summary)

    def _recovered(
        self, campus: str, device: str, why: str, now: datetime, *, own_groups: bool = True
    ) -> None:
        for problem in (*DOWN_PROBLEMS, "report_stale"):
            tid = self.tickets.resolve_auto(
                campus=campus, device=device, problem=problem, note=f"resolved automatically: {why}", at=now
            )
            if tid is not None:
                self.count("tickets_resolved")
                _log.info("ticket #%s resolved automatically: %s", tid, why)
        self._stale.discard((campus, device))
        for tid in self.tickets.device_recovered(campus, device, why, at=now, own_groups=own_groups):
            self.count("tickets_resolved")
            _log.info("group ticket #%s resolved automatically", tid)

    def _note_opened(self, created: bool, ticket_id: int, what: str) -> None:
        if created:
            self.count("tickets_opened")
            _log.warning("ticket #%s opened: %s", ticket_id, what)

    def _record(self, campus: str, device: str, problem: str, summary: str, now: datetime) -> None:
        with self.db.session() as s:
            dev = self._device(s, campus, device, now)
            s.add(DeviceHistory(device_id=dev.id, at=now, kind=f"rule_{problem}"[:32], detail=summary))

    # -- time-driven rules ------------------------------------------------------------------------
    def sweep(self, now_ts: float | None = None) -> None:
        """Expected hours (should be on), stale reports, held device-down tickets, flapping settled."""
        now_ts = self.clock() if now_ts is None else now_ts
        now = _dt(now_ts)
        self.flush_liveness()  # the stale-report check below reads last_seen
        self.tickets.settle_flapping(now)
        self.release_due()
        self._link_sweep(now_ts)
        self._prune_seen_events(now_ts)
        if self._in_link_grace(now_ts):
            self.count("sweeps")
            return  # nobody can report while the broker is away: silence and absence are not faults
        hold = self.config.rules.group_hold_seconds
        with self.db.session() as s:
            devices = list(s.scalars(select(Device).where(Device.state.in_(("lost", "shutdown", "online")))))
            covered = TicketService.covered_devices(s)
            stuck = TicketService.covered_devices(s, own_groups=False)
            handled = TicketService.handled_losses(s)
        down: list[tuple[str, str]] = []
        off: list[tuple[str, str]] = []
        for d in devices:
            key = (d.campus, d.device)
            since = as_utc(d.state_since)
            if d.state == "online":
                if key in stuck:
                    # online, yet a ticket says it is down: we died between storing `online` and
                    # resolving (the redelivered status is a duplicate now); finish the job
                    self._recovered(d.campus, d.device, f"{d.device} is online", now, own_groups=False)
                self._check_stale(d, now_ts)
                continue
            if key in covered or since is None or key in self._held or key in self._confirming:
                continue
            if (at := handled.get(key)) is not None and since <= at:
                continue  # a person resolved this loss: it stays resolved until the device is seen again
            exp = self.expectation(d.campus, d.device, now_ts)
            if not (exp.expected and exp.past_grace):
                continue
            if d.state == "lost":
                if self.rule("device_down", *key) is None:
                    continue
                if self._groupable(*key) and (now - since).total_seconds() < hold:
                    continue  # still held: a group may form
                down.append(key)
            elif exp.day_start is not None and since.timestamp() < exp.day_start:
                if self.rule("should_be_on", *key) is not None:
                    off.append(key)  # off since before the school day began and not back
        for problem, keys in (("device_down", down), ("should_be_on", off)):
            if not keys:
                continue
            left = (
                [k for k in keys if not self._attach_to_switch(*k, now_ts)]
                if problem == "device_down"
                else keys
            )
            self._group(left, now_ts, problem)
            for campus, device in left:
                with self.db.session() as s:
                    if TicketService.covering(s, campus, device) is not None:
                        continue
                rule = self.rule(problem, campus, device)
                if rule is not None:
                    self._open_down(campus, device, problem, now_ts, rule)
        self.count("sweeps")

    def _check_stale(self, d: Device, now_ts: float) -> None:
        key = (d.campus, d.device)
        seen = as_utc(d.last_seen)
        if key in self._stale or seen is None or not d.interval_s:
            return
        silent = now_ts - max(seen.timestamp(), self.started, self.link_up_since or 0.0)
        if silent < d.interval_s * self.config.rules.stale_intervals:
            return
        rule = self.rule("report_stale", d.campus, d.device)
        if rule is None:
            return
        exp = self.expectation(d.campus, d.device, now_ts)
        if not exp.expected:
            return
        self._stale.add(key)
        summary = f"{d.device} is online but silent for {silent:.0f} s (half-open connection?)"
        if not rule.ticket:
            self._record(d.campus, d.device, "report_stale", summary, _dt(now_ts))
            return
        opened = self.tickets.open(
            campus=d.campus,
            device=d.device,
            problem="report_stale",
            summary=summary,
            severity=rule.severity,
            room=self.topology.room_of(d.campus, d.device) or "",
            at=_dt(now_ts),
        )
        self._note_opened(opened.created, opened.ticket_id, summary)

    # -- liveness, written behind ----------------------------------------------------------------
    def _note_liveness(self, m: Metrics, now: datetime) -> None:
        """Last seen / last seq of a device: one ORM write for a new device, then batched updates."""
        key = (m.campus, m.device)
        dev_id = self._device_ids.get(key)
        if dev_id is None:
            with self.db.session() as s:
                dev = self._device(s, m.campus, m.device, now)
                dev.last_seen = now
                dev.interval_s = m.interval
                if dev.last_seq is None or m.seq > dev.last_seq:
                    dev.last_seq = m.seq
                    dev.last_report_ts = _dt(m.ts)
                s.flush()
                new_id = dev.id
            self._device_ids[key] = new_id  # only once committed
            return
        prev = self._liveness.get(dev_id)
        if prev is not None and prev.seq > m.seq:  # a replay behind a newer report
            self._liveness[dev_id] = _Liveness(now, m.interval, prev.seq, prev.report_ts)
        else:
            self._liveness[dev_id] = _Liveness(now, m.interval, m.seq, _dt(m.ts))
        if len(self._liveness) >= LIVENESS_BATCH:
            self.flush_liveness()

    def flush_liveness(self) -> None:
        """Write the held liveness in one statement; times and seqs only ever move forward."""
        if not self._liveness:
            return
        rows = [
            {
                "b_id": i,
                "b_seen": lv.seen,
                "b_interval": lv.interval,
                "b_seq": lv.seq,
                "b_report": lv.report_ts,
            }
            for i, lv in self._liveness.items()
        ]
        # typed parameters: the dialect then stores times exactly as the ORM does
        seen = bindparam("b_seen", type_=Device.__table__.c.last_seen.type)
        seq = bindparam("b_seq", type_=Device.__table__.c.last_seq.type)
        report = bindparam("b_report", type_=Device.__table__.c.last_report_ts.type)
        interval = bindparam("b_interval", type_=Device.__table__.c.interval_s.type)
        newer_seq = or_(Device.last_seq.is_(None), Device.last_seq < seq)
        stmt = (
            update(Device)
            .where(Device.id == bindparam("b_id"))
            .values(
                last_seen=case(
                    (or_(Device.last_seen.is_(None), Device.last_seen < seen), seen), else_=Device.last_seen
                ),
                interval_s=interval,
                last_seq=case((newer_seq, seq), else_=Device.last_seq),
                last_report_ts=case((newer_seq, report), else_=Device.last_report_ts),
            )
            .execution_options(synchronize_session=False)
        )
        try:
            with self.db.engine.begin() as conn:
                conn.execute(stmt, rows)
        except (DataError, IntegrityError):
            # one row the database refuses must not hold back the others, nor stop every sweep
            for row in rows:
                try:
                    with self.db.engine.begin() as conn:
                        conn.execute(stmt, [row])
                except (DataError, IntegrityError) as exc:
                    self.count("liveness_dropped")
                    _log.error("last-seen of device row %s not written: %s", row["b_id"], exc.orig)
        self._liveness.clear()

    # -- reports, inventory, events ----------------------------------------------------------------
    def _metrics(self, m: Metrics, received: float) -> str:
        facts = self.facts(m.campus, m.device)
        where = MetricPlacement(facts.building, facts.room, facts.device_type)
        if not self.metrics.record(m, received, where):
            return "duplicate_report"
        now = _dt(received)
        self._note_liveness(m, now)
        if (m.campus, m.device) in self._stale:
            self._stale.discard((m.campus, m.device))
            self.tickets.resolve_auto(
                campus=m.campus,
                device=m.device,
                problem="report_stale",
                note="resolved automatically: reports arrive again",
                at=now,
            )
        if received - m.ts > m.interval * self.config.ingest.stale_intervals:
            return "accepted_stale_report"  # a replay from the agent's buffer: stored, never alerted

        def raised_before(problem: str, subject: str) -> bool:
            with self.db.session() as s:
                return TicketService.active(s, m.campus, m.device, problem, subject) is not None

        actions = self.thresholds.evaluate(m.campus, m.device, m.ts, m.metrics, raised_before, facts)
        self._act(m.campus, m.device, actions, now)
        return "accepted_metrics"

    def _inventory(self, inv: Inventory, received: float) -> str:
        """The register keeps the inventory and says what changed (its asset history); the
        `inventory_changed` rule tickets the hardware part of that same change list."""
        now = _dt(received)
        self._touch(inv.campus, inv.device, received, "inventory")
        outcome = self.register.record_inventory(inv, now)  # what the database refuses: a dead letter
        self._hardware_changed(outcome, now)
        return "accepted_inventory"

    def _hardware_changed(self, outcome: InventoryOutcome, now: datetime) -> None:
        campus, device = outcome.campus, outcome.device
        hardware = [c for c in outcome.changes if c.hardware]
        rule = self.rule("inventory_changed", campus, device) if hardware else None
        if rule is None:
            return
        what = "; ".join(c.summary for c in hardware)
        summary = f"{device} (asset #{outcome.asset_id}): hardware changed: {what}"
        if not rule.ticket:
            self._record(campus, device, "inventory_changed", summary, now)
            return
        opened = self.tickets.open(
            campus=campus,
            device=device,
            problem="inventory_changed",
            summary=summary[:500],
            severity=rule.severity,
            room=self.topology.room_of(campus, device) or "",
            at=now,
        )
        if not opened.created and opened.event is None:
            # the ticket is still open (nobody checked the machine yet): it gains this change too
            self.tickets.note(opened.ticket_id, f"also changed: {what}", actor=SYSTEM_ACTOR)
        self._note_opened(opened.created, opened.ticket_id, summary)

    @staticmethod
    def _event_digest(ev: Event) -> str:
        """An event's identity: the same happening has the same content (a redelivery, a replay)."""
        return hashlib.sha256(encode(ev)).hexdigest()

    def _event(self, ev: Event, received: float) -> str:
        digest = self._event_digest(ev)
        with self.db.session() as s:
            if s.get(SeenEvent, (ev.campus, ev.device, digest)) is not None:
                return "duplicate_event"
        # act first, then mark it seen with its history row: a crash in between acts again (ticket
        # operations are idempotent), it never loses the event
        self._act_on_event(ev, received)
        try:
            with self.db.session() as s:
                dev = self._device(s, ev.campus, ev.device, _dt(received))
                dev.last_seen = _dt(received)
                s.add(SeenEvent(campus=ev.campus, device=ev.device, digest=digest, seen_at=_dt(received)))
                s.add(
                    DeviceHistory(
                        device_id=dev.id,
                        at=_dt(ev.ts),
                        kind=f"event_{ev.kind}"[:32],
                        detail=f"[{ev.severity}] {ev.message}",
                    )
                )
        except IntegrityError:
            return "duplicate_event"  # another server process took it meanwhile
        return "accepted_event"

    def _prune_seen_events(self, now_ts: float) -> None:
        if now_ts < self._next_prune:
            return
        self._next_prune = now_ts + 3600
        cutoff = _dt(now_ts) - timedelta(days=SEEN_EVENTS_DAYS)
        with self.db.session() as s:
            s.execute(delete(SeenEvent).where(SeenEvent.seen_at < cutoff))

    def _act_on_event(self, ev: Event, received: float) -> None:
        if ev.kind in PERIPHERAL_GONE + PERIPHERAL_BACK:
            rule = self.rule("peripheral_missing", ev.campus, ev.device)
            if rule is not None:
                subject = peripheral_subject(ev.message, ev.data)
                verdict: Verdict = "open" if ev.kind in PERIPHERAL_GONE else "resolve"
                what = "is missing" if verdict == "open" else "is back"
                action = Action(
                    verdict,
                    "peripheral_missing",
                    subject,
                    rule.severity,
                    f"{ev.device}: {subject} {what}",
                    rule.ticket,
                )
                self._act(ev.campus, ev.device, [action], _dt(received))

    def _act(self, campus: str, device: str, actions: list[Action], now: datetime) -> None:
        for a in actions:
            if not a.ticket:
                self._record(campus, device, a.problem, a.summary, now)
                continue
            if a.verdict == "open":
                opened = self.tickets.open(
                    campus=campus,
                    device=device,
                    problem=a.problem,
                    subject=a.subject,
                    severity=a.severity,
                    summary=a.summary,
                    room=self.topology.room_of(campus, device) or "",
                    at=now,
                )
                self._note_opened(opened.created, opened.ticket_id, a.summary)
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
