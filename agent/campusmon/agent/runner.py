"""The agent process: one thread that collects, queues on disk, and publishes from the queue.

Every report goes into the on-disk queue first (agent/buffer.py); the sender hands the oldest
unacknowledged ones to paho (QoS 1) and removes each only after the broker's PUBACK. When the connection
drops, paho's copies are discarded and the queue is replayed in order after the reconnect, which waits
with exponential backoff and jitter. `online` on every connect, `shutdown` with a reason on a clean stop.
"""

from __future__ import annotations

import json
import logging
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Literal

import paho.mqtt.client as mqtt

from campusmon import __version__
from campusmon.hashing import content_hash
from campusmon.mqtt.client import Backoff, accepted, new_client
from campusmon.seq import SeqCounter

from . import wire
from .buffer import ReportBuffer
from .collectors import REGISTRY, Collector, PsutilLike
from .config import AgentConfig
from .events import peripheral_changes
from .identity import HardwareFacts, Identity, derive, usable_facts
from .idle import set_idle
from .report import build_report

_log = logging.getLogger(__name__)
AGENT_NAME = f"campusmon-agent/{__version__}"
#: reports handed to paho at once (the rest wait in the queue)
INFLIGHT_WINDOW = 20
DAY_SECONDS = 86400.0


def make_collectors(names: list[str], ps: PsutilLike) -> dict[str, Collector]:
    return {name: REGISTRY[name](ps) for name in names}


def _identity_cache(config: AgentConfig) -> Path:
    return config.agent.state_dir / "identity.json"


def resolve_identity(
    config: AgentConfig, ps: PsutilLike
) -> tuple[Identity, tuple[dict[str, Any], HardwareFacts] | None]:
    """The device id (configured, or derived from hardware) and the inventory read on the way."""
    if config.agent.device:
        return derive(HardwareFacts(), configured=config.agent.device), None
    from .inventory import InventoryUnavailable, collect

    cache = _identity_cache(config)
    try:
        snapshot = collect(ps)
    except InventoryUnavailable as exc:
        # keep the id we derived before rather than flip to the hostname for one bad start
        try:
            cached = json.loads(cache.read_text(encoding="utf-8"))
            _log.warning("hardware facts unavailable (%s); using the saved identity", exc)
            return Identity(str(cached["device_id"]), str(cached["source"]), str(cached["value"])), None
        except (OSError, ValueError, KeyError, TypeError):
            _log.warning("hardware facts unavailable (%s); falling back to the hostname", exc)
            return derive(HardwareFacts(), hostname=socket.gethostname()), None
    identity = derive(snapshot[1], hostname=socket.gethostname())
    if identity.source == "hostname":
        _log.warning("no usable hardware identity; device id %r comes from the hostname", identity.device_id)
    try:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(identity.as_dict()), encoding="utf-8")
    except OSError as exc:
        _log.warning("cannot save the identity to %s: %s", cache, exc)
    return identity, snapshot


class Agent:
    """One device's agent. `run()` blocks until `stop()` (or a signal, see agent/stopping.py)."""

    def __init__(self, config: AgentConfig, ps: PsutilLike | None = None) -> None:
        if ps is None:
            import psutil

            ps = psutil
        self.config = config
        self._ps = ps
        self.identity, self._first_inventory = resolve_identity(config, ps)
        self.campus = config.agent.campus
        self.device = self.identity.device_id
        self.interval = config.agent.interval
        self.collectors = make_collectors(config.agent.collectors, ps)
        b = config.buffer
        self.buffer = ReportBuffer(
            config.buffer_path,
            max_reports=b.max_reports,
            max_age_seconds=b.max_age_hours * 3600,
            memory_max=b.memory_reports,
        )
        # sequence numbers used to live in <state_dir>/<device>.seq: carry on from there
        self._legacy_seq = SeqCounter(config.agent.state_dir / f"{self.device}.seq").peek
        self._stop = threading.Event()
        self.stopped = threading.Event()
        self._stop_reason = "stopped"
        self._connected = False
        self._connect_called = False
        #: rounds lost to a full or broken disk
        self.disk_errors = 0
        self._inflight: dict[int, int] = {}  # paho mid -> queue row id
        self._acked: list[int] = []
        self._sent_upto = 0
        self._status_mid: int | None = None
        self._status_acked = threading.Event()
        #: when the current (or last) MQTT connection was made; 0.0 before the first
        self._connected_at = 0.0
        m = config.mqtt
        self._backoff = Backoff(
            m.reconnect_min_seconds, m.reconnect_max_seconds, fast_s=m.reconnect_fast_seconds
        )
        self._next_connect = 0.0
        root = m.root
        self._status_topic = wire.topic(root, self.campus, self.device, "status")
        self._metrics_topic = wire.topic(root, self.campus, self.device, "metrics")
        self._inventory_topic = wire.topic(root, self.campus, self.device, "inventory")
        self._events_topic = wire.topic(root, self.campus, self.device, "events")
        self._client = self._make_client()
        # slow PowerShell/WMI queries (inventory, peripherals) must not look like a hung device
        set_idle(self._keep_alive)

    # --- payloads -----------------------------------------------------------------------------------

    def _status(self, state: str, reason: str | None = None, ts: float | None = None) -> bytes:
        return wire.encode(
            wire.status(
                self.campus,
                self.device,
                time.time() if ts is None else ts,
                state,
                reason=reason,
                interval=self.interval,
                agent=AGENT_NAME,
                connected=self._connected_at or None,
            )
        )

    def _arm_will(self) -> None:
        """A new connection gets its own will: `ts` and `connected` are this connect's time, the same
        `connected` its `online` carries, so the server orders a will before the next connection's
        `online` by the device's own clock (never going back within this process)."""
        self._connected_at = max(time.time(), self._connected_at + 0.001)
        self._client.will_set(
            self._status_topic, self._status("lost", ts=self._connected_at), qos=1, retain=True
        )

    def report(self, seq: int) -> dict[str, Any]:
        return build_report(
            self.collectors,
            campus=self.campus,
            device=self.device,
            seq=seq,
            interval=self.interval,
            ts=time.time(),
        )

    def enqueue_report(self) -> int:
        """Collect and queue one report; its `seq` is taken in the same transaction (survives restarts)."""
        compress = self.config.agent.compress
        made: list[dict[str, Any]] = []

        def build(seq: int) -> bytes:
            made.append(self.report(seq))
            return wire.encode(made[-1], compress=compress)

        seq = self.buffer.push_numbered(self._metrics_topic, self.device, build, first=self._legacy_seq)
        self._note_peripherals(made[-1]["metrics"].get("peripherals"))
        return seq

    def _note_peripherals(self, group: Any) -> None:
        """A document camera or touch screen that disappears is an event (kept across restarts)."""
        if not isinstance(group, dict):
            return
        raw = self.buffer.get_meta("peripherals")
        before = json.loads(raw) if raw else None
        for h in peripheral_changes(before, group):
            self.enqueue_event(h.kind, h.severity, h.message, h.data)
        if raw is None or before != group:
            self.buffer.set_meta("peripherals", json.dumps(group))

    def enqueue_event(
        self, kind: str, severity: Literal["info", "warning", "critical"], message: str, data: dict[str, Any]
    ) -> None:
        payload = wire.event(
            self.campus,
            self.device,
            time.time(),
            kind=kind,
            severity=severity,
            message=message,
            data=data,
        )
        self.buffer.push(self._events_topic, wire.encode(payload))

    def check_inventory(self, *, force: bool = False) -> bool:
        """Queue the inventory if it changed, is a day old, or `force`; True when queued."""
        from .inventory import InventoryUnavailable, collect, device_type

        snapshot, self._first_inventory = self._first_inventory, None
        if snapshot is None:
            try:
                snapshot = collect(self._ps)
            except InventoryUnavailable as exc:
                _log.warning("inventory unavailable: %s", exc)
                return False
        data, facts = snapshot
        kind = device_type(self.config.agent.type, self._ps)
        if kind is not None:
            data = {**data, "type": kind}  # the register gives a new asset this type
        digest = content_hash(data)
        try:
            sent_at = float(self.buffer.get_meta("inventory_sent_at") or 0)
        except ValueError:
            sent_at = 0.0
        now = time.time()
        if not force and digest == self.buffer.get_meta("inventory_hash") and now - sent_at < DAY_SECONDS:
            return False
        identity = usable_facts(facts) | {k: v for k, v in self.identity.as_dict().items() if v}
        payload = wire.inventory(
            self.campus, self.device, now, content_hash=digest, identity=identity, data=data
        )
        self.buffer.push(
            self._inventory_topic, wire.encode(payload, compress=self.config.agent.compress), retain=True
        )
        self.buffer.set_meta("inventory_hash", digest)
        self.buffer.set_meta("inventory_sent_at", str(now))
        return True

    def _report_dropped(self) -> None:
        trouble = self.buffer.take_failures() if self.buffer.failures_due() else None
        if trouble is not None:
            lost = trouble.lost_reports + trouble.lost_other
            self.enqueue_event(
                "buffer_error", "critical" if lost else "warning", trouble.message(), trouble.as_data()
            )
        dropped = self.buffer.take_dropped()
        if dropped.total:
            self.enqueue_event(
                "buffer_overflow",
                "warning",
                f"{dropped.total} queued messages were dropped while the broker was unreachable",
                {"dropped": dropped.total, "dropped_full": dropped.full, "dropped_expired": dropped.expired},
            )

    # --- MQTT ---------------------------------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = new_client(self.config.mqtt, f"campusmon-agent-{self.campus}-{self.device}")
        # the will (a crash, power cut or pulled cable shows as `lost`) is armed before each connect
        client.max_inflight_messages_set(INFLIGHT_WINDOW + 2)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        return client

    def _on_connect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        if not accepted(reason, self.config.mqtt, f"{self.campus}/{self.device}"):
            return
        self._connected = True
        self._backoff.connected(time.monotonic())
        client.publish(self._status_topic, self._status("online"), qos=1, retain=True)

    def _on_disconnect(self, client: mqtt.Client, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        was = self._connected
        self._connected = False
        # paho would resend its in-flight copies after a reconnect, ahead of anything newer; the queue
        # replays them instead, so they stay in order
        client.drop_out_messages()
        self._inflight.clear()
        self._sent_upto = 0
        if was:
            self._backoff.disconnected(time.monotonic())
        if not self._stop.is_set():
            delay = self._backoff.next()
            self._next_connect = time.monotonic() + delay
            if was:
                _log.warning("disconnected from the broker (%s); reconnecting in %.1f s", reason, delay)

    def _on_publish(self, client: mqtt.Client, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        if mid == self._status_mid:
            self._status_acked.set()
        row = self._inflight.pop(mid, None)
        if row is None:
            return
        if reason is not None and reason.is_failure:
            # e.g. 135 not authorized: retrying cannot help, and it would block every later report
            _log.warning("broker refused a queued message (%s); dropping it", reason)
        self._acked.append(row)

    def _try_connect(self) -> None:
        m = self.config.mqtt
        try:
            if self._client.socket() is None:
                self._arm_will()
                if self._connect_called:
                    self._client.reconnect()
                else:
                    self._connect_called = True
                    self._client.connect(m.host, m.port, keepalive=m.keepalive)
                # reconnect() is paho's, but waiting between attempts is ours
                self._next_connect = time.monotonic() + m.keepalive
        except (OSError, ValueError) as exc:  # refused, unreachable, TLS handshake, DNS
            delay = self._backoff.next()
            self._next_connect = time.monotonic() + delay
            _log.warning("cannot connect to %s:%s (%s); retrying in %.1f s", m.host, m.port, exc, delay)

    def _keep_alive(self) -> None:
        """Serve the MQTT connection (pings, acknowledgements) while a collection is slow; the queue
        itself is not touched here (a collection may be inside one of its transactions)."""
        if self._connected and self._client.socket() is not None:
            self._client.loop(timeout=0)

    def _pump(self) -> None:
        room = INFLIGHT_WINDOW - len(self._inflight)
        if room <= 0:
            return
        for q in self.buffer.after(self._sent_upto, room):
            info = self._client.publish(q.topic, q.payload, qos=1, retain=q.retain)
            if info.rc != mqtt.MQTT_ERR_SUCCESS:
                return
            self._inflight[info.mid] = q.id
            self._sent_upto = q.id

    def _network(self, timeout: float) -> None:
        if self._client.socket() is None:
            self._stop.wait(timeout)
            return
        # on a broken connection paho closes the socket itself and calls _on_disconnect
        self._client.loop(timeout=timeout)
        if self._acked:
            acked, self._acked = self._acked, []
            self._guard("forget acknowledged messages", self.buffer.ack, acked)

    def _guard(self, what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """A full or broken disk loses this round, never the process (the next round tries again)."""
        try:
            fn(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            self.disk_errors += 1
            _log.error("report buffer: cannot %s: %s", what, exc)

    # --- life cycle ---------------------------------------------------------------------------------

    def stop(self, reason: str = "stopped") -> None:
        self._stop_reason = reason
        self._stop.set()

    def run(self) -> None:
        now = time.monotonic()
        next_report = now
        next_inventory = now
        inventory_every = self.config.agent.inventory_check_minutes * 60.0
        first_inventory = True
        try:
            while not self._stop.is_set():
                now = time.monotonic()
                if now >= next_report:
                    self._guard("queue a report", self.enqueue_report)
                    next_report += self.interval
                    if next_report <= now:  # the machine slept: no burst of catch-up reports
                        next_report = now + self.interval
                if now >= next_inventory:
                    self._guard("queue the inventory", self.check_inventory, force=first_inventory)
                    first_inventory = False
                    next_inventory = now + inventory_every
                if not self._connected and now >= self._next_connect:
                    self._try_connect()
                if self._connected:
                    if self.buffer.dropped.total or self.buffer.failures_due():
                        self._guard("queue a buffer event", self._report_dropped)
                    self._guard("read the queue", self._pump)
                wake = min(next_report, next_inventory)
                if not self._connected:
                    wake = min(wake, self._next_connect)
                self._network(max(0.0, min(1.0, wake - time.monotonic())))
        finally:
            self._shutdown()

    def _shutdown(self) -> None:
        _log.info("stopping: %s", self._stop_reason)
        try:
            if self._connected:
                info = self._client.publish(
                    self._status_topic, self._status("shutdown", self._stop_reason), qos=1, retain=True
                )
                self._status_mid = info.mid
                deadline = time.monotonic() + 5
                while not self._status_acked.is_set() and self._connected and time.monotonic() < deadline:
                    self._network(0.1)
                if not self._status_acked.is_set():
                    _log.warning("the broker did not confirm the shutdown status")
            # a clean DISCONNECT: the broker discards the will
            self._client.disconnect()
            if self._acked:
                self._guard("forget acknowledged messages", self.buffer.ack, self._acked)
        finally:
            set_idle(None)
            self.buffer.close()
            self.stopped.set()


def once(config: AgentConfig, ps: PsutilLike | None = None) -> Mapping[str, Any]:
    """One report, collected twice a second apart so rates are filled in (nothing is sent or queued)."""
    if ps is None:
        import psutil

        ps = psutil
    device = config.agent.device or resolve_identity(config, ps)[0].device_id
    collectors = make_collectors(config.agent.collectors, ps)
    build_report(
        collectors,
        campus=config.agent.campus,
        device=device,
        seq=0,
        interval=config.agent.interval,
        ts=time.time(),
    )
    time.sleep(1.0)
    return build_report(
        collectors,
        campus=config.agent.campus,
        device=device,
        seq=0,
        interval=config.agent.interval,
        ts=time.time(),
    )
