"""The edge: validate every message, count it, drop duplicates, store it; then ask the fault engine
(server/engine) and hand its actions to the effects (server/effects.py).

A metrics report goes `handle` -> `_store` -> `_metrics` (store, liveness) -> `engine.decide(Report)`
-> `Effects.apply`, and nothing calls back. Statuses go the same way once the edge has ordered them by
the device's clock and held the losses that come with a broker restart (`Loss`, `Back`,
`LinkSettled`); the sweep asks with `Tick`."""

from __future__ import annotations

import hashlib
import logging
import sqlite3
import statistics
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Sequence
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

from . import engine
from .config import ServerConfig, static_topology
from .db import Database, as_utc
from .effects import Effects, EngineMemory, device_row
from .engine import AbsentDevice, CampusView, Cover, DeviceFacts, OnlineDevice, Snapshot
from .engine.conditions import link_down
from .metrics import MetricStore
from .metrics import Placement as MetricPlacement
from .models import ACTIVE_STATES, DeadLetter, Device, DeviceHistory, SeenEvent, Ticket
from .register.service import InventoryOutcome, RegisterService
from .register.topology import RegisterTopology
from .schedule import Expectation, compile_schedule
from .status_order import StatusMark, supersedes
from .tickets import EventHook, TicketService
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
#: the subject of a campus link's `link_down` ticket (its bridge to the central broker)
BRIDGE_SUBJECT = link_down.BRIDGE
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
#: how far behind the reports being processed are is the median over this window's reports …
REPORT_DELAY_WINDOW_SECONDS = 30.0
#: … of at most this many (the newest)
REPORT_DELAY_SAMPLES = 4096
#: reports this late say the server is behind (a boot storm, a slow database): logged, counted
REPORT_DELAY_BEHIND_SECONDS = 30.0
#: at most this much of a dead letter's payload is kept (the rest is counted in payload_bytes)
DEAD_LETTER_PAYLOAD_BYTES = 64 * 1024
DEAD_LETTER_ERROR_CHARS = 2000
#: past this many dead letters, new ones are only counted and logged (a flood must not fill the disk)
DEAD_LETTER_MAX_ROWS = 10_000


class _Places:
    """The engine's view of where devices are, answered from the ingest's (cached) topology."""

    def __init__(self, owner: Ingestor) -> None:
        self.owner = owner

    def get(self, key: tuple[str, str], default: DeviceFacts, /) -> DeviceFacts:
        campus, device = key
        t = self.owner.topology  # looked up each time: it may be replaced (tests, a reload)
        room = t.room_of(campus, device)
        up = t.upstream_of(campus, device)
        if isinstance(t, Placement):
            return DeviceFacts(room, t.building_of(campus, device), t.type_of(campus, device), up)
        return DeviceFacts(room, upstream=up)


class _KnownPlace:
    """One device's place already looked up (the report's own device), the rest from the topology:
    conditions ask for it several times per report, and a topology look-up is not free."""

    __slots__ = ("base", "facts", "key")

    def __init__(self, base: _Places, key: tuple[str, str], facts: DeviceFacts) -> None:
        self.base, self.key, self.facts = base, key, facts

    def get(self, key: tuple[str, str], default: DeviceFacts, /) -> DeviceFacts:
        return self.facts if key == self.key else self.base.get(key, default)


class _CampusViews:
    """What grouping needs of a campus, read from the database the first time a decision asks."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._views: dict[str, CampusView] = {}

    def get(self, campus: str, default: CampusView, /) -> CampusView:
        view = self._views.get(campus)
        if view is None:
            with self.db.session() as s:
                lost = {
                    d: since.timestamp()
                    for d, when in s.execute(
                        select(Device.device, Device.state_since).where(
                            Device.campus == campus, Device.state == "lost"
                        )
                    ).all()
                    if (since := as_utc(when)) is not None
                }
                covering = {
                    d: Cover(t.device, t.problem, t.subject, t.summary)
                    for d, t in TicketService.covering_in(s, campus).items()
                }
                rooms = set(
                    s.scalars(
                        select(Ticket.subject).where(
                            Ticket.campus == campus,
                            Ticket.device == "",
                            Ticket.problem == "room_down",
                            Ticket.status.in_(ACTIVE_STATES),
                        )
                    )
                )
            view = self._views[campus] = CampusView(lost, covering, rooms)
        return view


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
        owns: Callable[[str], bool] | None = None,
    ) -> None:
        self.config = config
        #: the campuses this process acts for (a district worker owns some; one server owns all)
        self.owns: Callable[[str], bool] = owns if owns is not None else (lambda campus: True)
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
        self.counters: Counter[str] = Counter()
        #: (when processed, processed - the report's own ts) of the newest reports: see report_delay
        self._report_delays: deque[tuple[float, float]] = deque(maxlen=REPORT_DELAY_SAMPLES)
        #: what the engine remembers between events, and who carries its actions out
        self.memory = EngineMemory()
        self.effects = Effects(db, self.tickets, self.memory, self.count)
        self.places = _Places(self)
        #: per device: (problem, subject) with an active ticket when this process first heard of it
        self._open_at_start: dict[tuple[str, str], frozenset[tuple[str, str]]] = {}
        #: device row ids, and the liveness of reports not yet written (see flush_liveness)
        self._device_ids: dict[tuple[str, str], int] = {}
        self._liveness: dict[int, _Liveness] = {}
        self._lock = threading.Lock()
        self._reject_log = RateLimitedLog(config.ingest.reject_log_per_minute)
        self._behind_log = RateLimitedLog(1)
        self.root = config.broker.root
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
        #: campus links (bridges from a campus broker): down since / back since, by campus
        self.bridge_down_since: dict[str, float] = {}
        self.bridge_up_since: dict[str, float] = {}
        #: when this process took each campus over (silence is counted from then at the earliest)
        self._campus_since: dict[str, float] = {}
        self._next_prune = 0.0
        self._rebuild()

    def _rebuild(self, campus: str | None = None) -> None:
        """The state kept in memory, from the database: losses stored but not decided (decided now),
        open report_stale tickets. For every owned campus, or one campus just taken over."""
        with self.db.session() as s:
            q = select(Device).where(Device.loss_pending.is_(True), Device.state == "lost")
            if campus is not None:
                q = q.where(Device.campus == campus)
            for d in s.scalars(q):
                if not self.owns(d.campus):
                    continue
                # a loss this server (or the campus's previous owner) stored but had not decided on
                since = as_utc(d.state_since)
                self._confirming[(d.campus, d.device)] = (
                    since.timestamp() if since is not None else self.started,
                    time.monotonic(),
                )
            q2 = select(Ticket).where(Ticket.problem == "report_stale", Ticket.status.in_(ACTIVE_STATES))
            if campus is not None:
                q2 = q2.where(Ticket.campus == campus)
            for t in s.scalars(q2):
                if self.owns(t.campus):
                    self.memory.stale.add((t.campus, t.device))

    def take_campus(self, campus: str, at: float) -> None:
        """This process now acts for `campus` (a district takeover): rebuild its state from the
        database; the retained statuses that arrive with the subscription do the rest (idempotent)."""
        self._campus_since[campus] = at
        self._rebuild(campus)
        self.count("campuses_taken")

    def drop_campus(self, campus: str) -> None:
        """Another worker acts for `campus` from now on: write what is held, forget the rest."""
        self.flush_liveness()
        for keyed in (self._held, self._confirming):
            for key in [k for k in keyed if k[0] == campus]:
                del keyed[key]
        self.memory.forget_campus(campus)
        for opened in [k for k in self._open_at_start if k[0] == campus]:
            del self._open_at_start[opened]  # its tickets may change under the other worker
        for per_campus in (self.bridge_down_since, self.bridge_up_since, self._campus_since):
            per_campus.pop(campus, None)
        self.count("campuses_dropped")

    def count(self, key: str, n: int = 1) -> None:
        with self._lock:
            self.counters[key] += n

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.counters)

    # -- what the engine is shown ------------------------------------------------------------------
    def snapshot_for(
        self,
        *,
        open_problems: frozenset[tuple[str, str]] = frozenset(),
        online: Sequence[OnlineDevice] = (),
        absent: Sequence[AbsentDevice] = (),
        covered: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
        handled: dict[tuple[str, str], float] | None = None,
        places: _Places | _KnownPlace | None = None,
        reports_until: float | None = None,
    ) -> Snapshot:
        """The settings, places and memory every decision sees, plus the parts one event needs."""
        return Snapshot(
            self.config.rules,
            self.schedule,
            places or self.places,
            self.memory.thresholds,
            open_problems,
            self.memory.stale,
            online,
            self.started,
            self.link_up_since,
            self._broker_name,
            absent,
            covered,
            handled or {},
            _CampusViews(self.db),
            self.config.district.bridge_down_after_seconds,
            reports_until,
        )

    def facts(self, campus: str, device: str) -> DeviceFacts:
        return self.places.get((campus, device), engine.DeviceFacts())

    def expectation(self, campus: str, device: str, ts: float) -> Expectation:
        f = self.facts(campus, device)
        return self.schedule.at(campus, device, ts, f.room, f.device_type)

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
        if isinstance(payload, Metrics | Inventory):
            # reports and inventories share the bulk lane: either one being late says how late the
            # reports behind it are. A retained copy (a resubscribe) is as old as its ts says: it is
            # late by the time it waited here
            processed = self.clock()
            self._report_delays.append((processed, processed - (received if retained else payload.ts)))
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
    @staticmethod
    def _device(s: Session, campus: str, device: str, now: datetime) -> Device:
        return device_row(s, campus, device, now)

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
                if self._around_link_event(received) or self._in_bridge_grace(st.campus, received):
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
        self._decide(engine.BrokerBack(at, down_for), self.snapshot_for(), at)

    @property
    def _broker_name(self) -> str:
        b = self.config.broker
        return f"{b.host}:{b.port}"[:200]

    # -- a campus's link to the central broker (a bridge) -----------------------------------------------
    def bridge_state(self, campus: str, up: bool, at: float) -> None:
        """The campus broker's bridge to us connected (`up`) or dropped (its will): while it is down
        and for `rules.link_grace_seconds` after, that campus's silence is no device's fault; one
        `link_down` ticket names the link once it is down `district.bridge_down_after_seconds`."""
        if not up:
            if campus not in self.bridge_down_since:
                self.bridge_down_since[campus] = at
                self.bridge_up_since.pop(campus, None)
                self.count("bridge_down")
                _log.warning("campus %s: its link to the central broker is down", campus)
            return
        down_since = self.bridge_down_since.pop(campus, None)
        if down_since is not None:
            self.bridge_up_since[campus] = at
            self.count("bridge_up")
            _log.info("campus %s: its link is back after %.0f s", campus, at - down_since)
        back = engine.CampusLinkBack(campus, at, None if down_since is None else at - down_since)
        self._decide(back, self.snapshot_for(), at)

    def _in_bridge_grace(self, campus: str, now_ts: float) -> bool:
        if campus in self.bridge_down_since:
            return True
        back = self.bridge_up_since.get(campus)
        return back is not None and now_ts - back < self.config.rules.link_grace_seconds

    def _bridge_sweep(self, now_ts: float) -> None:
        for campus, since in sorted(self.bridge_down_since.items()):
            if self.owns(campus):
                self._decide(engine.CampusLinkAway(campus, now_ts, since), self.snapshot_for(), now_ts)

    def _link_sweep(self, now_ts: float) -> None:
        """One ticket for a broker away too long; held losses that did not come back go on as losses."""
        rules = self.config.rules
        self._bridge_sweep(now_ts)
        if self.link_down_since is not None:
            self._decide(engine.BrokerAway(now_ts, self.link_down_since), self.snapshot_for(), now_ts)
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
        away = tuple(key for key in due if key in lost)
        if away:
            self._decide(engine.LinkSettled(now_ts, away), self.snapshot_for(), now_ts)
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
                self.memory.stale.discard((campus, t.device))
        if targets:
            _log.info("%d targets of probe runner %s/%s are not observed now", len(targets), campus, runner)

    # -- device down, root cause ------------------------------------------------------------------
    def _lost(self, campus: str, device: str, received: float) -> None:
        """A device went `lost` in expected hours, and it is no broker event: the engine decides."""
        self._decide(engine.Loss(campus, device, received), self.snapshot_for(), received)

    def _recovered(
        self, campus: str, device: str, why: str, now: datetime, *, own_groups: bool = True
    ) -> None:
        back = engine.Back(campus, device, why, now.timestamp(), own_groups)
        self._decide(back, self.snapshot_for(), now.timestamp())

    def _decide(self, event: engine.EngineEvent, snapshot: Snapshot, at: float) -> None:
        """Edge -> engine -> effects: the one way from an event to what happens."""
        self.effects.apply(engine.decide(event, snapshot), at)

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
        with self.db.session() as s:
            # plain rows, not ORM objects: a district worker sweeps 10,000 devices every 2 s
            devices = s.execute(
                select(
                    Device.campus,
                    Device.device,
                    Device.state,
                    Device.state_since,
                    Device.last_seen,
                    Device.interval_s,
                ).where(Device.state.in_(("lost", "shutdown", "online")))
            ).all()
            covered = TicketService.covered_devices(s)
            stuck = TicketService.covered_devices(s, own_groups=False)
            handled = TicketService.handled_losses(s)
        online: list[OnlineDevice] = []
        absent: list[AbsentDevice] = []
        for campus, device, state, state_since, last_seen, interval_s in devices:
            key = (campus, device)
            if not self.owns(campus) or self._in_bridge_grace(campus, now_ts):
                continue  # another worker's campus, or its link to us is away: silence means nothing
            if state == "online":
                if key in stuck:
                    # online, yet a ticket says it is down: we died between storing `online` and
                    # resolving (the redelivered status is a duplicate now); finish the job
                    self._recovered(campus, device, f"{device} is online", now, own_groups=False)
                # silence counts from when this campus's link came back or we took it over, at the earliest
                listening = max(self.bridge_up_since.get(campus, 0.0), self._campus_since.get(campus, 0.0))
                online.append(OnlineDevice(campus, device, as_utc(last_seen), interval_s, listening))
            elif key not in self._held and key not in self._confirming:  # the edge holds those
                since = as_utc(state_since)
                if since is not None:
                    absent.append(AbsentDevice(campus, device, state, since.timestamp()))
        snapshot = self.snapshot_for(
            online=online,
            absent=absent,
            covered=covered,
            handled={k: at.timestamp() for k, at in handled.items()},
            reports_until=self._reports_until(now_ts),
        )
        self._decide(engine.Tick(now_ts), snapshot, now_ts)
        self.count("sweeps")

    def report_delay(self, now: float) -> float:
        """How far behind real time the reports being processed are: the median, over the reports and
        inventories of the last REPORT_DELAY_WINDOW_SECONDS, of (processed - the message's own ts, or
        - when it was received for a retained copy); 0 when none came.
        Reports that queued in the broker or in our own lane (a boot storm of a whole district, a
        slow database) are late by that much; the median keeps a few devices with a wrong clock, or
        replaying their buffer after a cut, from moving it. Called from the ingest thread only."""
        recent = [late for at, late in self._report_delays if now - at <= REPORT_DELAY_WINDOW_SECONDS]
        return max(0.0, statistics.median(recent)) if recent else 0.0

    def _reports_until(self, now: float) -> float | None:
        """Up to when the reports are in: silence is counted up to there, not up to now (a device
        whose report still waits in a queue is not silent). None: they are current."""
        late = self.report_delay(now)
        if late <= 0.0:
            return None
        if late >= REPORT_DELAY_BEHIND_SECONDS:
            self.count("sweeps_behind")
            if self._behind_log.allow("behind", now):
                _log.warning(
                    "reports arrive %.0f s late (a backlog in the broker or here, or most devices' clocks "
                    "behind ours): a device's "
                    "silence is counted up to then",
                    late,
                )
        return now - late

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
        self._note_liveness(m, _dt(received))
        # a replay from the agent's buffer is stored and ends a silence, but raises nothing
        replay = received - m.ts > m.interval * self.config.ingest.stale_intervals
        report = engine.Report(m.campus, m.device, m.ts, received, m.interval, m.metrics, replay)
        snapshot = self.snapshot_for(
            open_problems=self._open_problems(m.campus, m.device),
            places=_KnownPlace(self.places, (m.campus, m.device), facts),
        )
        self._decide(report, snapshot, received)
        return "accepted_stale_report" if replay else "accepted_metrics"

    def _open_problems(self, campus: str, device: str) -> frozenset[tuple[str, str]]:
        """What had an active ticket on this device when this process first heard of it: a threshold
        raised before a restart stays raised (one query per device and process)."""
        known = self._open_at_start.get((campus, device))
        if known is None:
            with self.db.session() as s:
                rows = s.execute(
                    select(Ticket.problem, Ticket.subject).where(
                        Ticket.campus == campus, Ticket.device == device, Ticket.status.in_(ACTIVE_STATES)
                    )
                ).all()
            known = self._open_at_start[(campus, device)] = frozenset((p, sub) for p, sub in rows)
        return known

    def _inventory(self, inv: Inventory, received: float) -> str:
        """The register keeps the inventory and says what changed (its asset history); the
        `inventory_changed` rule tickets the hardware part of that same change list."""
        now = _dt(received)
        self._touch(inv.campus, inv.device, received, "inventory")
        outcome = self.register.record_inventory(inv, now)  # what the database refuses: a dead letter
        self._hardware_changed(outcome, received)
        return "accepted_inventory"

    def _hardware_changed(self, outcome: InventoryOutcome, received: float) -> None:
        hardware = tuple(c.summary for c in outcome.changes if c.hardware)
        if hardware:
            changed = engine.HardwareChanged(
                outcome.campus, outcome.device, outcome.asset_id, hardware, received
            )
            self._decide(changed, self.snapshot_for(), received)

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
        happening = engine.Happening(ev.campus, ev.device, ev.kind, ev.message, ev.data, received)
        self._decide(happening, self.snapshot_for(), received)
