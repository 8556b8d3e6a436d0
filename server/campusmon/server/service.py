"""The server process: (managed) broker, persistent MQTT session, one ingest worker, clean stop."""

from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
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
    #: "link_down" / "link_up": our own connection to the broker changed (no message)
    control: str = ""


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
            while len(lane) >= self._maxsize and item is not None:
                self._cond.wait(0.5)
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
        #: one MQTT session per lane, so statuses never wait behind reports in the broker's queue
        self._clients: dict[str, mqtt.Client] = {}
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
        self._subscribed: dict[str, threading.Event] = {
            "priority": threading.Event(),
            "bulk": threading.Event(),
        }
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
        self.ingestor = Ingestor(
            cfg, self.db, self.metrics, topology=self.topology, clock=self.clock, on_event=self._router
        )
        self.dispatcher.start()
        self.inspections = self._overdue_watcher()
        self.inspections.start()
        self._worker = threading.Thread(target=self._work, name="ingest", daemon=True)
        self._worker.start()
        for lane in ("priority", "bulk"):
            client = self._make_client(lane)
            self._clients[lane] = client
            props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
            props.SessionExpiryInterval = cfg.broker.session_expiry_seconds
            client.connect_async(
                cfg.broker.host,
                cfg.broker.port,
                keepalive=cfg.broker.keepalive,
                clean_start=False,
                properties=props,
            )
            client.loop_start()
        if wait_connected:
            deadline = time.monotonic() + wait_connected
            for ev in self._subscribed.values():
                if not ev.wait(max(0.0, deadline - time.monotonic())):
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

    def client_id(self, lane: str) -> str:
        """The reports keep the configured id (and its persistent session); statuses get their own."""
        b = self.config.broker
        return b.client_id if lane == "bulk" else f"{b.client_id}-status"

    def _make_client(self, lane: str) -> mqtt.Client:
        b = self.config.broker
        # manual_ack: a message is acknowledged only after it is stored, so a kill -9 loses nothing
        client = new_client(b, self.client_id(lane), manual_ack=True, userdata=lane)
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
        for client in self._clients.values():
            client.disconnect()
            client.loop_stop()
        if self.inspections is not None:
            self.inspections.stop()
        self._lanes.put(None, priority=True)
        if self._worker is not None:
            self._worker.join(timeout=10)
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
        return all(ev.is_set() for ev in self._subscribed.values())

    # -- MQTT callbacks (network threads) --------------------------------------------------------
    def _topics(self, lane: str) -> list[str]:
        """The status session takes statuses and events; the report session takes everything else
        (also topics of unknown kinds, to count them), and leaves statuses to the other one."""
        root = self.config.broker.root
        if lane == "priority":
            return [f"{root}/+/+/{k}" for k in PRIORITY_KINDS]
        return [subscription(root)]

    def _on_connect(
        self,
        client: mqtt.Client,
        lane: str,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        b = self.config.broker
        detail = f" ({lane} session present: {flags.session_present})"
        if not accepted(reason, b, self.client_id(lane), section="broker", detail=detail):
            return
        client.subscribe([(t, 1) for t in self._topics(lane)])
        self._subscribed[lane].set()
        if self.connected:
            self._lanes.put(_Incoming("", b"", 0, 0, self.clock(), control="link_up"), priority=True)

    def _on_disconnect(
        self,
        client: mqtt.Client,
        lane: str,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        was = self.connected
        self._subscribed[lane].clear()
        if self._stopped.is_set():
            return
        _log.warning("lost the broker (%s session: %s); reconnecting", lane, reason)
        if was:
            self._lanes.put(_Incoming("", b"", 0, 0, self.clock(), control="link_down"), priority=True)

    def _on_message(self, client: mqtt.Client, lane: str, msg: mqtt.MQTTMessage) -> None:
        # blocks when the worker is far behind: backpressure reaches the broker, which queues
        kind = msg.topic.rsplit("/", 1)[-1]
        if lane == "bulk" and kind in PRIORITY_KINDS:
            # the status session has its own copy (and handled it long ago, not behind the reports)
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)
            return
        self._lanes.put(
            _Incoming(
                msg.topic, bytes(msg.payload), msg.mid, msg.qos, self.clock(), bool(msg.retain), client
            ),
            priority=kind in PRIORITY_KINDS,
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
        try:
            if item.control == "link_down":
                self.ingestor.link_down(item.received)
            elif item.control == "link_up":
                self.ingestor.link_up(item.received)
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
