"""The server process: (managed) broker, persistent MQTT session, one ingest worker, clean stop."""

from __future__ import annotations

import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from sqlalchemy.exc import OperationalError

from campusmon.contract import subscription
from campusmon.mqtt_security import secure
from campusmon.private_files import private_dir

from .broker import ManagedBroker
from .config import ServerConfig
from .db import Database
from .ingest import Ingestor
from .inspections.watch import OverdueWatcher
from .metrics_store import SqliteMetricStore
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


_SWEEP = _Incoming("", b"", 0, 0, 0.0)


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
        self.ingestor: Ingestor | None = None
        self._queue: queue.Queue[_Incoming | None] = queue.Queue(maxsize=10_000)
        self._client: mqtt.Client | None = None
        #: the in-process probe runner ([probes] enabled)
        self.probes: InProcessRunner | None = None
        #: looks for overdue inspections every [inspections] check_minutes
        self.inspections: OverdueWatcher | None = None
        #: the web console and HTTP API ([http] enabled)
        self.http: HttpServer | None = None
        self._worker: threading.Thread | None = None
        self._subscribed = threading.Event()
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
        self.metrics = SqliteMetricStore(cfg.storage.metrics_path)
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
        self._client = self._make_client()
        props = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        props.SessionExpiryInterval = cfg.broker.session_expiry_seconds
        self._client.connect_async(
            cfg.broker.host,
            cfg.broker.port,
            keepalive=cfg.broker.keepalive,
            clean_start=False,
            properties=props,
        )
        self._client.loop_start()
        if wait_connected and not self._subscribed.wait(wait_connected):
            _log.warning("not connected to the broker after %.0f s; still trying", wait_connected)
        if cfg.http.enabled:
            try:
                self._start_http()
            except (RuntimeError, OSError):  # the port is taken, a bad certificate: say so, stop
                self.stop()
                raise
        if cfg.probes.enabled:
            from campusmon.probes.inprocess import InProcessRunner

            try:
                self.probes = InProcessRunner.for_server(
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

        with self._queue.mutex:
            waiting = [i for i in self._queue.queue if i is not None and i is not _SWEEP]
        lag = max(0.0, self.clock() - waiting[0].received) if waiting else 0.0
        counters = self.ingestor.snapshot() if self.ingestor is not None else {}
        probes = self.probes.runner.result_counts() if self.probes is not None else {}
        return Health(self.connected, len(waiting), lag, counters, probes)

    def _make_client(self) -> mqtt.Client:
        b = self.config.broker
        # manual_ack: a message is acknowledged only after it is stored, so a kill -9 loses nothing
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id=b.client_id, protocol=mqtt.MQTTv5, manual_ack=True
        )
        secure(client, b)
        if self.broker is not None and self.broker.server_login is not None:  # no anonymous login
            client.username_pw_set(self.broker.server_login.username, self.broker.server_login.password)
        client.reconnect_delay_set(min_delay=1, max_delay=30)
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
        if self._client is not None:
            self._client.disconnect()
            self._client.loop_stop()
        if self.inspections is not None:
            self.inspections.stop()
        self._queue.put(None)
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
        if self.metrics is not None:
            self.metrics.close()
        if self.db is not None:
            self.db.dispose()
        if self.broker is not None:
            self.broker.stop()

    @property
    def connected(self) -> bool:
        return self._subscribed.is_set()

    # -- MQTT callbacks (network thread) ---------------------------------------------------------
    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        if reason.is_failure:
            _log.error("broker refused the server: %s", reason)
            return
        _log.info(
            "connected to broker %s:%s (session present: %s)",
            self.config.broker.host,
            self.config.broker.port,
            flags.session_present,
        )
        client.subscribe(subscription(self.config.broker.root), qos=1)
        self._subscribed.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        props: Properties | None,
    ) -> None:
        self._subscribed.clear()
        if not self._stopped.is_set():
            _log.warning("lost the broker (%s); reconnecting", reason)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        # blocks when the worker is far behind: backpressure reaches the broker, which queues
        self._queue.put(_Incoming(msg.topic, bytes(msg.payload), msg.mid, msg.qos, self.clock()))

    # -- the worker --------------------------------------------------------------------------------
    def _work(self) -> None:
        """Handle messages in arrival order; acknowledge each only once it is safely stored."""
        assert self.ingestor is not None
        every = self.config.rules.sweep_seconds
        next_sweep = time.monotonic() + every
        try:
            while True:
                try:
                    item = self._queue.get(timeout=max(0.0, next_sweep - time.monotonic()))
                except queue.Empty:
                    item = _SWEEP
                if time.monotonic() >= next_sweep:
                    if not self._retry(self.ingestor.sweep):
                        return
                    self._kick()
                    next_sweep = time.monotonic() + every
                if item is _SWEEP:
                    continue
                if item is None:
                    return
                if not self._handle_with_retry(item):
                    return  # stopping while the database is down: the broker redelivers it
                self._kick()
                if item.qos > 0 and self._client is not None:
                    self._client.ack(item.mid, item.qos)
        except BaseException:
            # an unexpected bug: stop loudly so the service manager restarts us; unacked
            # messages stay with the broker
            _log.critical("ingest worker died", exc_info=True)
            self.fatal.set()
            raise

    def _kick(self) -> None:
        """Wake the notification senders once the ticket change (and its outbox rows) is committed."""
        if self._router is not None and self.dispatcher is not None and self._router.take_pending():
            self.dispatcher.kick()

    def _handle_with_retry(self, item: _Incoming) -> bool:
        assert self.ingestor is not None
        ingestor = self.ingestor
        return self._retry(lambda: ingestor.handle(item.topic, item.payload, received=item.received))

    def _retry(self, job: Callable[[], object]) -> bool:
        assert self.ingestor is not None
        backoff = 0.5
        while True:
            try:
                job()
                return True
            except (OperationalError, sqlite3.OperationalError) as exc:
                # database unavailable or locked: keep the message, retry
                self.ingestor.count("storage_retry")
                _log.error("storage unavailable (%s); retrying in %.1f s", exc, backoff)
                if self._stopped.wait(backoff):
                    return False
                backoff = min(backoff * 2, 30.0)
