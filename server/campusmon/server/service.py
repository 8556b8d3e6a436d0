"""The server process: (managed) broker, persistent MQTT session, one ingest worker, clean stop."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import OperationalError

from campusmon.contract import subscription
from campusmon.mqtt.client import accepted, new_client
from campusmon.private_files import private_dir

from .broker import ManagedBroker
from .config import ServerConfig
from .db import Database
from .district import SESSION_TAKEN_OVER, LeaseBook, bridge_topic, default_worker_id, is_bridge_topic
from .ingest import Ingestor
from .inspections.watch import OverdueWatcher
from .metrics import SqliteMetricStore, open_store
from .metrics.jobs import MetricJobs
from .notify import Dispatcher, Router
from .topology import Topology

if TYPE_CHECKING:
    from campusmon.probes.inprocess import InProcessRunner

    from .web.context import Health
    from .web.runner import HttpServer

_log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Incoming:
    topic: str
    payload: bytes
    mid: int
    qos: int
    received: float
    #: delivered from the broker's retained store (a (re)subscribe), not as published
    retained: bool = False
    #: the MQTT session that must acknowledge it
    client: mqtt.Client | None = None
    #: "link_down" / "link_up": our own connection to the broker changed (no message);
    #: "take" / "drop": a district campus (in `topic`) is ours from now on / no longer
    control: str = ""
    #: the session it came in on (None: not from a session); acted on only while that is active
    session: _Session | None = None


@dataclass(eq=False, slots=True)
class _Session:
    """One MQTT session: a lane ("priority" or "bulk") of everything (campus "") or of one campus."""

    campus: str
    lane: str
    client: mqtt.Client | None = None
    subscribed: threading.Event = field(default_factory=threading.Event)
    #: False once the campus is handed over: its messages are left unacknowledged for the next owner
    active: bool = True


#: kinds that overtake queued metrics and inventories (their own MQTT session and worker lane)
PRIORITY_KINDS = ("status", "events")
#: a status or event failing to store is retried this often (backoff from RETRY_FIRST_SECONDS) before
#: it is handed to `dead_letter` or parked unacknowledged, so the next one is not blocked
PRIORITY_ATTEMPTS = 4
#: a report keeps its place (per-device order) and is retried with backoff up to this cap
RETRY_FIRST_SECONDS = 0.5
RETRY_MAX_SECONDS = 30.0
#: after this many attempts a report is offered to `dead_letter` (it keeps its place if refused)
BULK_ATTEMPTS = 8
#: each lane holds at most this many received messages (the broker's in-flight window is far less)
LANE_SIZE = 10_000

#: called with (topic, payload, error) for a message that keeps failing; True: it is kept elsewhere
#: (a dead-letter table) and is acknowledged; False: it stays unacknowledged with us
DeadLetter = Callable[[str, bytes, BaseException], bool]


def _live(item: _Incoming) -> bool:
    """Still ours to act on: not from a session that was closed (its campus handed over)."""
    return item.session is None or item.session.active


class _Lanes:
    """Two FIFO lanes, statuses/events before metrics; a full lane blocks its MQTT network thread
    (backpressure: the broker keeps queueing)."""

    def __init__(self, maxsize: int) -> None:
        self._prio: deque[_Incoming | None] = deque()
        self._bulk: deque[_Incoming] = deque()
        self._maxsize = maxsize
        self._cond = threading.Condition()

    def put(self, item: _Incoming | None, *, priority: bool) -> None:
        with self._cond:
            lane: deque[Any] = self._prio if priority or item is None else self._bulk
            while len(lane) >= self._maxsize and item is not None and _live(item):
                self._cond.wait(0.5)
            if item is not None and not _live(item):
                return  # its campus was handed over while we waited: the next owner gets it
            lane.append(item)
            self._cond.notify_all()

    def take(self, *, priority: bool) -> tuple[bool, _Incoming | None]:
        """(True, item) if that lane had one (None: the stop sentinel); (False, None) if empty."""
        with self._cond:
            lane: deque[Any] = self._prio if priority else self._bulk
            if not lane:
                return False, None
            item = lane.popleft()
            self._cond.notify_all()
            return True, item

    def wait(self, timeout: float, *, priority: bool, bulk: bool) -> None:
        """Sleep up to `timeout` unless a lane the caller takes from (`priority`, `bulk`) has work."""
        with self._cond:
            if not ((priority and self._prio) or (bulk and self._bulk)):
                self._cond.wait(timeout)

    def waiting(self) -> tuple[int, float | None]:
        """How many messages wait, and when the oldest of them was received."""
        with self._cond:
            items = [i for i in (*self._prio, *self._bulk) if i is not None and not i.control]
        return len(items), min((i.received for i in items), default=None)

    def sizes(self) -> tuple[int, int]:
        with self._cond:
            return len(self._prio), len(self._bulk)


@dataclass(slots=True)
class _Pending:
    """A message whose storing failed: when to try again, how often it failed."""

    item: _Incoming
    attempts: int = 0
    due: float = 0.0
    error: BaseException | None = None

    def failed(self, now: float, error: BaseException) -> float:
        self.attempts += 1
        self.error = error
        delay = min(RETRY_MAX_SECONDS, RETRY_FIRST_SECONDS * 2.0 ** (self.attempts - 1))
        self.due = now + delay
        return delay


class Server:
    """`start()` returns once connected and subscribed; `stop()` ends everything it started."""

    def __init__(
        self,
        config: ServerConfig,
        *,
        clock: Callable[[], float] = time.time,
        topology: Topology | None = None,
    ) -> None:
        self.config = config
        #: the current unix time; injectable so tests can stand at a given school-day moment
        self.clock = clock
        self.topology = topology
        self.dispatcher: Dispatcher | None = None
        self._router: Router | None = None
        self.broker: ManagedBroker | None = None
        self.db: Database | None = None
        self.metrics: SqliteMetricStore | None = None
        #: compaction, retention and (influx backend) the writer draining the spool
        self.metric_jobs: MetricJobs | None = None
        self.ingestor: Ingestor | None = None
        self._lanes = _Lanes(LANE_SIZE)
        #: one MQTT session per lane, so statuses never wait behind reports in the broker's queue;
        #: in a district two per owned campus: (campus, lane) -> session
        self._sessions: dict[tuple[str, str], _Session] = {}
        self._sessions_lock = threading.Lock()
        #: district: the campus leases (None for one server that owns everything)
        self.leases: LeaseBook | None = None
        self._district: threading.Thread | None = None
        #: district: campuses this worker owns (its sessions are open); written by the worker thread
        self.campuses: set[str] = set()
        #: district: scheduled jobs this worker holds the lease of
        self.jobs: frozenset[str] = frozenset()
        #: set by whoever keeps messages that cannot be stored (see DeadLetter)
        self.dead_letter: DeadLetter | None = None
        #: statuses/events that failed PRIORITY_ATTEMPTS times: unacknowledged, retried with backoff
        self._parked: list[_Pending] = []
        #: the in-process probe runner ([probes] enabled)
        self.probes: InProcessRunner | None = None
        #: looks for overdue inspections every [inspections] check_minutes
        self.inspections: OverdueWatcher | None = None
        #: the web console and HTTP API ([http] enabled)
        self.http: HttpServer | None = None
        self._worker: threading.Thread | None = None
        #: every session was connected and subscribed (link_down is reported once when that ends)
        self._all_connected = False
        self._stopped = threading.Event()
        #: set when the ingest worker died of a bug; `campusmon server run` then exits non-zero
        self.fatal = threading.Event()

    # -- lifecycle -----------------------------------------------------------------------------
    def start(self, wait_connected: float = 15.0) -> None:
        cfg = self.config
        private_dir(cfg.storage.data_dir)
        if cfg.broker.managed:
            self.broker = ManagedBroker(
                cfg.storage.data_dir / "broker",
                host=cfg.broker.host,
                port=cfg.broker.port,
                binary=cfg.broker.mosquitto_bin,
                max_queued=cfg.broker.max_queued_messages,
                max_inflight=cfg.broker.max_inflight_messages,
                root=cfg.broker.root,
            )
            self.broker.start()
        self.db = Database(cfg.storage.db_url)
        self.metrics = open_store(cfg.storage, cfg.metrics)
        self.metric_jobs = MetricJobs(self.metrics, cfg.metrics)
        self.metric_jobs.start()
        self.dispatcher = Dispatcher(cfg.notify, self.db, ZoneInfo(cfg.schedule.timezone))
        self._router = Router(cfg.notify)
        district = cfg.district.enabled
        self.ingestor = Ingestor(
            cfg,
            self.db,
            self.metrics,
            topology=self.topology,
            clock=self.clock,
            on_event=self._router,
            owns=self.campuses.__contains__ if district else None,
        )
        self.dispatcher.start()
        self.inspections = self._overdue_watcher()
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)
        self._worker.start()
        if district:
            worker = cfg.district.worker_id or default_worker_id()
            self.leases = LeaseBook(self.db, worker, cfg.district.lease_seconds)
            self._district = threading.Thread(target=self._lease_loop, name="leases", daemon=True)
            self._district.start()
            _log.info("district worker %s: campuses are taken through leases", worker)
        else:
            self.inspections.start()
            for lane in ("priority", "bulk"):
                self._open_session("", lane)
        if wait_connected and not district:
            deadline = time.monotonic() + wait_connected
            for sess in list(self._sessions.values()):
                if not sess.subscribed.wait(max(0.0, deadline - time.monotonic())):
                    _log.warning("not connected to the broker after %.0f s; still trying", wait_connected)
                    break
        if cfg.http.enabled:
            try:
                self._start_http()
            except (RuntimeError, OSError):  # the port is taken, a bad certificate: say so, stop
                self.stop()
                raise
        if cfg.probes.enabled:
            from .probing import in_process_runner

            try:
                self.probes = in_process_runner(
                    cfg.probes,
                    cfg.broker,
                    cfg.storage.data_dir,
                    self.db,
                    users=self.broker.users if self.broker is not None else None,
                )
            except (ValueError, OSError):  # a probe config that went bad since load, an unwritable state dir
                self.stop()
                raise
            self.probes.start()

    def _overdue_watcher(self) -> OverdueWatcher:
        from .inspections.plans import load_plans
        from .inspections.service import InspectionService

        cfg, ing = self.config, self.ingestor
        assert ing is not None and self.db is not None
        service = InspectionService(
            self.db,
            load_plans(cfg.inspections.plans_file),
            ing.tickets,
            tz=ZoneInfo(cfg.schedule.timezone),
            clock=self.clock,
            notify_overdue=cfg.inspections.notify_overdue,
            overdue_severity=cfg.inspections.overdue_severity,
        )
        return OverdueWatcher(service, cfg.inspections.check_minutes * 60, after=self._kick)

    def _start_http(self) -> None:
        from .web.app import create_app
        from .web.context import WebContext
        from .web.runner import HttpServer

        assert self.db is not None
        if not self.config.notify.ticket_url:
            self.config.notify.ticket_url = self.config.http.ticket_url()
        ctx = WebContext(
            self.config,
            self.db,
            self.metrics,
            on_event=self._router,
            after_change=self._kick,
            health=self.health,
            clock=self.clock,
        )
        self.http = HttpServer(create_app(ctx), self.config.http)
        self.http.start()

    def health(self) -> Health:
        """For /healthz and /metrics: broker session, ingest backlog and lag, ingest counters, and the
        in-process probe runner's results by code."""
        from .web.context import Health

        waiting, oldest = self._lanes.waiting()
        lag = max(0.0, self.clock() - oldest) if oldest is not None else 0.0
        counters = self.ingestor.snapshot() if self.ingestor is not None else {}
        probes = self.probes.runner.result_counts() if self.probes is not None else {}
        return Health(self.connected, waiting, lag, counters, probes)

    def client_id(self, lane: str, campus: str = "") -> str:
        """The reports keep the configured id (and its persistent session); statuses get their own.
        In a district each campus has its pair, named after it, so whoever owns the campus resumes
        the sessions the broker kept (and what it queued meanwhile)."""
        b = self.config.broker
        base = f"{b.client_id}-{campus}" if campus else b.client_id
        return base if lane == "bulk" else f"{base}-status"

    def _open_session(self, campus: str, lane: str) -> _Session:
        sess = _Session(campus, lane)
        client = self._make_client(sess)
        sess.client = client
        with self._sessions_lock:
            self._sessions[(campus, lane)] = sess
            self._all_connected = False
        cfg = self.config
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = cfg.broker.session_expiry_seconds
        # flow control: the broker hands us at most this many unacknowledged messages per session
        props.ReceiveMaximum = cfg.broker.max_inflight_messages
        client.connect_async(
            cfg.broker.host,
            cfg.broker.port,
            keepalive=cfg.broker.keepalive,
            clean_start=False,
            properties=props,
        )
        client.loop_start()
        return sess

    def _close_session(self, sess: _Session) -> None:
        """Stop taking messages on it; what it delivered and we did not store stays with the broker."""
        sess.active = False
        with self._sessions_lock:
            if self._sessions.get((sess.campus, sess.lane)) is sess:
                del self._sessions[(sess.campus, sess.lane)]
        if sess.client is not None:
            sess.client.disconnect()
            sess.client.loop_stop()

    def _make_client(self, sess: _Session) -> mqtt.Client:
        b = self.config.broker
        # manual_ack: a message is acknowledged only after it is stored, so a kill -9 loses nothing
        client = new_client(b, self.client_id(sess.lane, sess.campus), manual_ack=True, userdata=sess)
        if self.broker is not None and self.broker.server_login is not None:  # no anonymous login
            client.username_pw_set(self.broker.server_login.username, self.broker.server_login.password)
        client.reconnect_delay_set(min_delay=1, max_delay=10)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        return client

    def stop(self) -> None:
        if self._stopped.is_set():
            return
        self._stopped.set()
        if self.http is not None:  # no new requests while the rest shuts down
            self.http.stop()
        if self.probes is not None:  # first, so the server still hears the runner's shutdown status
            self.probes.stop()
        if self._district is not None:
            self._district.join(timeout=10)
        for sess in list(self._sessions.values()):
            if self.leases is not None:
                self._close_session(sess)  # what it delivered and we did not store: the next owner's
            elif sess.client is not None:  # one server: what was received is still stored (and
                sess.client.disconnect()  # redelivered at the next start, a duplicate dropped by seq)
                sess.client.loop_stop()
        if self.inspections is not None:
            self.inspections.stop()
        self._lanes.put(None, priority=True)
        if self._worker is not None:
            self._worker.join(timeout=10)
        if self.leases is not None:
            self._leave()
        if self.ingestor is not None and not (self._worker is not None and self._worker.is_alive()):
            try:
                self.ingestor.flush_liveness()
            except (OperationalError, sqlite3.OperationalError) as exc:
                _log.warning("last-seen times not written at stop: %s", exc)
        if self.ingestor is not None:
            _log.info("ingest counters at stop: %s", json.dumps(self.ingestor.snapshot(), sort_keys=True))
        if self.dispatcher is not None:
            self.dispatcher.stop()
        if self.metric_jobs is not None:
            self.metric_jobs.stop()
        if self.metrics is not None:
            self.metrics.close()
        if self.db is not None:
            self.db.dispose()
        if self.broker is not None:
            self.broker.stop()

    @property
    def connected(self) -> bool:
        with self._sessions_lock:
            return all(s.subscribed.is_set() for s in self._sessions.values())

    # -- MQTT callbacks (network threads) --------------------------------------------------------
    def _topics(self, sess: _Session) -> list[str]:
        """The status session takes statuses, events and campus link states; the report session
        takes everything else (also topics of unknown kinds, to count them), and leaves statuses to
        the other one. In a district both take only their campus."""
        root = self.config.broker.root
        where = sess.campus or "+"
        if sess.lane == "priority":
            return [f"{root}/{where}/+/{k}" for k in PRIORITY_KINDS] + [bridge_topic(root, where)]
        return [f"{root}/{sess.campus}/#"] if sess.campus else [subscription(root)]

    def _on_connect(
        self,
        client: mqtt.Client,
        sess: _Session,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        b = self.config.broker
        who = self.client_id(sess.lane, sess.campus)
        detail = f" (session present: {flags.session_present})"
        if not accepted(reason, b, who, section="broker", detail=detail):
            return
        if not sess.active:  # handed over while connecting: leave the session to its new owner
            client.disconnect()
            return
        client.subscribe([(t, 1) for t in self._topics(sess)])
        sess.subscribed.set()
        with self._sessions_lock:
            now_all = all(s.subscribed.is_set() for s in self._sessions.values())
            back = now_all and not self._all_connected
            self._all_connected = self._all_connected or now_all
        if back:
            self._lanes.put(_Incoming("", b"", 0, 0, self.clock(), control="link_up"), priority=True)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        sess: _Session,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        sess.subscribed.clear()
        if self._stopped.is_set() or not sess.active:
            return
        if reason.value == SESSION_TAKEN_OVER:
            # another worker connected with this campus's id: it holds the lease now (or will
            # at its next renewal); do not fight over the session, hand the campus over
            _log.warning("campus %s: session taken over by another worker; handing it over", sess.campus)
            sess.active = False
            client.disconnect()
            if sess.campus:
                self._lanes.put(
                    _Incoming(sess.campus, b"", 0, 0, self.clock(), control="drop"), priority=True
                )
            return
        with self._sessions_lock:
            was = self._all_connected
            self._all_connected = False
        name = self.client_id(sess.lane, sess.campus)
        _log.warning("lost the broker (%s session: %s); reconnecting", name, reason)
        if was:
            self._lanes.put(_Incoming("", b"", 0, 0, self.clock(), control="link_down"), priority=True)

    def _on_message(self, client: mqtt.Client, sess: _Session, msg: mqtt.MQTTMessage) -> None:
        # blocks when the worker is far behind: backpressure reaches the broker, which queues
        if not sess.active:
            return  # handed over: unacknowledged, the broker gives it to the campus's next owner
        kind = msg.topic.rsplit("/", 1)[-1]
        bridge = is_bridge_topic(self.config.broker.root, msg.topic) is not None
        if sess.lane == "bulk" and (kind in PRIORITY_KINDS or bridge):
            # the status session has its own copy (and handled it long ago, not behind the reports)
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)
            return
        self._lanes.put(
            _Incoming(
                msg.topic,
                bytes(msg.payload),
                msg.mid,
                msg.qos,
                self.clock(),
                bool(msg.retain),
                client,
                session=sess,
            ),
            priority=kind in PRIORITY_KINDS or bridge,
        )

    # -- the worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        """Statuses and events first, then reports in arrival order; acknowledge each only once it is
        stored. A message that fails to store is retried with backoff without holding up the other
        lane: a report keeps its place (per-device order), a status or event is parked after
        PRIORITY_ATTEMPTS (unacknowledged) so the next one goes on."""
        assert self.ingestor is not None
        every = self.config.rules.sweep_seconds
        next_sweep = time.monotonic() + every
        prio: _Pending | None = None
        bulk: _Pending | None = None
        draining = False  # stop() was called: finish what was received, then return
        try:
            while True:
                if self._stopped.is_set() and any(
                    p is not None and p.attempts for p in (prio, bulk, *self._parked)
                ):
                    return  # stopping while storage fails: the broker redelivers what is unacknowledged
                now = time.monotonic()
                if now >= next_sweep:
                    self._sweep()
                    next_sweep = time.monotonic() + every
                due = self.ingestor.next_due()
                if due is not None and due <= now:
                    self._release()
                if prio is None:
                    got, item = self._lanes.take(priority=True)
                    draining = draining or (got and item is None)
                    prio = _Pending(item) if item is not None else None
                if prio is not None and prio.due <= now:
                    if self._attempt(prio):
                        prio = None
                    elif prio.attempts >= PRIORITY_ATTEMPTS and not self._give_up(prio):
                        self._parked.append(prio)
                        self.ingestor.count("storage_parked")
                        prio = None
                    elif prio.attempts >= PRIORITY_ATTEMPTS:
                        prio = None
                    continue  # statuses before anything else
                if self._retry_parked(now):
                    continue
                if bulk is None:
                    _, item = self._lanes.take(priority=False)
                    bulk = _Pending(item) if item is not None else None
                if bulk is not None and bulk.due <= now:
                    if self._attempt(bulk) or (bulk.attempts >= BULK_ATTEMPTS and self._give_up(bulk)):
                        bulk = None
                    continue
                if draining and prio is None and bulk is None and self._lanes.sizes() == (0, 0):
                    return
                dues = [next_sweep] + [p.due for p in (prio, bulk, *self._parked) if p is not None]
                due = self.ingestor.next_due()
                if due is not None:
                    dues.append(due)
                self._lanes.wait(
                    max(0.0, min(dues) - time.monotonic()), priority=prio is None, bulk=bulk is None
                )
        except BaseException:
            # an unexpected bug: stop loudly so the service manager restarts us; unacked
            # messages stay with the broker
            _log.critical("ingest worker died", exc_info=True)
            self.fatal.set()
            raise

    def _sweep(self) -> None:
        assert self.ingestor is not None
        try:
            self.ingestor.sweep()
        except (OperationalError, sqlite3.OperationalError) as exc:
            # the next sweep tries again; messages keep flowing meanwhile
            self.ingestor.count("sweep_failed")
            _log.error("sweep skipped, storage unavailable: %s", exc)
            return
        self._kick()

    def _release(self) -> None:
        """Losses whose confirmation wait is over become tickets (or part of a broker event)."""
        assert self.ingestor is not None
        try:
            self.ingestor.release_due()
        except (OperationalError, sqlite3.OperationalError) as exc:
            self.ingestor.count("release_failed")
            _log.error("held losses not released, storage unavailable: %s", exc)
            return
        self._kick()

    def _attempt(self, pending: _Pending) -> bool:
        """Handle one message (acknowledged once stored); False: storage failed, try again later."""
        assert self.ingestor is not None
        item = pending.item
        if not _live(item):
            return True  # its campus was handed over: left unacknowledged for the next owner
        try:
            if item.control in ("take", "drop"):
                self._campus_change(item.topic, take=item.control == "take")
                return True
            if item.control == "link_down":
                self.ingestor.link_down(item.received)
            elif item.control == "link_up":
                self.ingestor.link_up(item.received)
            elif (campus := is_bridge_topic(self.config.broker.root, item.topic)) is not None:
                self.ingestor.bridge_state(campus, item.payload.strip() == b"1", item.received)
            else:
                self.ingestor.handle(item.topic, item.payload, received=item.received, retained=item.retained)
        except (OperationalError, sqlite3.OperationalError) as exc:
            # database unavailable, locked or full: keep the message (unacknowledged), try again
            self.ingestor.count("storage_retry")
            delay = pending.failed(time.monotonic(), exc)
            _log.error(
                "storage unavailable (%s); %s retried in %.1f s (attempt %d)",
                str(exc)[:300],
                item.topic or item.control,
                delay,
                pending.attempts,
            )
            return False
        self._kick()
        self._ack(item)
        return True

    # -- district: campuses come and go ------------------------------------------------------------
    def _campus_change(self, campus: str, *, take: bool) -> None:
        """In the worker thread, between two messages: open a campus's sessions once its state is
        rebuilt, or close them (what they delivered and we did not store is left to the next owner)
        and hand the lease back."""
        assert self.ingestor is not None
        if take:
            if campus in self.campuses:
                return
            if self.leases is not None and not self.leases.holds(campus):
                return  # handed back (or taken) since the lease loop asked for it
            self.campuses.add(campus)
            self.ingestor.take_campus(campus, self.clock())
            for lane in ("priority", "bulk"):
                self._open_session(campus, lane)
            _log.info("campus %s taken", campus)
            return
        if campus not in self.campuses:
            return
        for lane in ("priority", "bulk"):
            with self._sessions_lock:
                sess = self._sessions.get((campus, lane))
            if sess is not None:
                self._close_session(sess)
        self.campuses.discard(campus)
        self.ingestor.drop_campus(campus)
        if self.leases is not None:
            self.leases.release([campus])
        _log.info("campus %s handed over", campus)

    def _lease_loop(self) -> None:
        """Renew this worker's leases every district.renew_seconds; take, shed and lose campuses."""
        assert self.leases is not None and self.db is not None
        d = self.config.district
        first = True
        last_ok = time.monotonic()
        while not self._stopped.is_set():
            try:
                known = set(d.campuses) | self._known_campuses()
                # the first round only registers: workers starting together then share from the start
                tick = self.leases.tick(known, acquire=not first)
            except (OperationalError, sqlite3.OperationalError) as exc:
                _log.error("leases not renewed (database unavailable): %s", exc)
                if time.monotonic() - last_ok > d.lease_seconds * 0.8:
                    # another worker may take our campuses now: stop acting for them first
                    for campus in sorted(self.campuses):
                        drop = _Incoming(campus, b"", 0, 0, self.clock(), control="drop")
                        self._lanes.put(drop, priority=True)
                self._stopped.wait(d.renew_seconds)
                continue
            first = False
            last_ok = time.monotonic()
            self._jobs(tick.jobs)
            now = self.clock()
            for campus in sorted(self.campuses - tick.campuses):  # lost (we were away too long)
                _log.warning("campus %s: lease lost; handing it over", campus)
                self._lanes.put(_Incoming(campus, b"", 0, 0, now, control="drop"), priority=True)
            for campus in sorted(tick.campuses - self.campuses - set(tick.shed)):
                self._lanes.put(_Incoming(campus, b"", 0, 0, now, control="take"), priority=True)
            for campus in tick.shed:  # above our share: another worker takes it once released
                self._lanes.put(_Incoming(campus, b"", 0, 0, now, control="drop"), priority=True)
                if campus not in self.campuses:
                    self.leases.release([campus])
            self._stopped.wait(d.renew_seconds)

    def _known_campuses(self) -> set[str]:
        from sqlalchemy import select

        from .models import Device

        assert self.db is not None
        with self.db.session() as s:
            return set(s.scalars(select(Device.campus).distinct()))

    def _jobs(self, jobs: frozenset[str]) -> None:
        """Start or stop the scheduled jobs whose lease this worker gained or lost."""
        if jobs == self.jobs:
            return
        if "inspections" in jobs and "inspections" not in self.jobs and self.inspections is not None:
            self.inspections = self._overdue_watcher()  # a thread starts once: a fresh watcher
            self.inspections.start()
            _log.info("scheduled job inspections runs on this worker")
        elif "inspections" in self.jobs and "inspections" not in jobs and self.inspections is not None:
            self.inspections.stop()
            _log.warning("scheduled job inspections: lease lost, stopped here")
        self.jobs = jobs

    def _leave(self) -> None:
        assert self.leases is not None
        try:
            self.leases.leave()
        except (OperationalError, sqlite3.OperationalError) as exc:
            _log.warning("leases not handed back at stop (they expire by themselves): %s", exc)
        self.campuses.clear()

    def _ack(self, item: _Incoming) -> None:
        if item.qos > 0 and item.client is not None:
            item.client.ack(item.mid, item.qos)

    def _give_up(self, pending: _Pending) -> bool:
        """Offer a message that keeps failing to `dead_letter`; True when it took it (acknowledged)."""
        assert self.ingestor is not None
        item = pending.item
        if self.dead_letter is None or item.control:
            return False
        try:
            taken = self.dead_letter(item.topic, item.payload, pending.error or RuntimeError("failed"))
        except (OperationalError, sqlite3.OperationalError) as exc:
            _log.error("dead letter unavailable too: %s", exc)
            return False
        if taken:
            self.ingestor.count("dead_lettered")
            self._ack(item)
        return taken

    def _retry_parked(self, now: float) -> bool:
        """Try the first parked status/event that is due; True if one was tried."""
        for i, pending in enumerate(self._parked):
            if pending.due <= now:
                if self._attempt(pending) or self._give_up(pending):
                    del self._parked[i]
                return True
        return False

    def _kick(self) -> None:
        """Wake the notification senders once the ticket change (and its outbox rows) is committed."""
        if self._router is not None and self.dispatcher is not None and self._router.take_pending():
            self.dispatcher.kick()
