"""A district on one machine for tests and the benchmark: `campusmon server run` worker processes on one
PostgreSQL and one central Mosquitto, report publishers with known sequence numbers, a TCP relay that
cuts a campus broker's bridge, and what the workers stored (VictoriaMetrics, PostgreSQL)."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from campusmon.contract import Metrics, encode, topic
from tests.support.mosquitto import free_port


def worker_config(
    path: Path,
    *,
    name: str,
    data_dir: Path,
    broker_port: int,
    database_url: str,
    campuses: Iterable[str],
    vm_url: str = "",
    webhook: str = "",
    lease_seconds: float = 8.0,
    renew_seconds: float = 1.0,
    sweep_seconds: float = 0.5,
    flush_interval_seconds: float = 0.2,
    extra: str = "",
) -> Path:
    """One worker's TOML: the shared central broker and PostgreSQL, its own data dir and name."""
    text = (
        'log_level = "info"\n'
        f'[broker]\nmanaged = false\nhost = "127.0.0.1"\nport = {broker_port}\nclient_id = "cm"\n'
        f'[storage]\ndata_dir = "{data_dir}"\ndatabase_url = "{database_url}"\n'
        + (
            f'metrics_backend = "influx"\n[metrics.influx]\nurl = "{vm_url}"\n'
            f"flush_interval_seconds = {flush_interval_seconds}\n"
            if vm_url
            else ""
        )
        + "[http]\nenabled = false\n"
        + '[schedule]\ndefault = "always"\n'
        + f"[rules]\nsweep_seconds = {sweep_seconds}\n"
        + f'[district]\nenabled = true\nworker_id = "{name}"\n'
        + f"campuses = {json.dumps(sorted(campuses))}\n"
        + f"lease_seconds = {lease_seconds}\nrenew_seconds = {renew_seconds}\n"
        + (
            "[notify.channels.ops]\n"
            f'kind = "webhook"\nurl = "{webhook}"\nrate_per_minute = 10000\ndigest_min = 10000\n'
            '[[notify.routes]]\nchannels = ["ops"]\n'
            if webhook
            else ""
        )
        + extra
    )
    path.write_text(text, encoding="utf-8")
    return path


@dataclass
class WorkerProcess:
    name: str
    config: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        with self.log.open("ab") as fh:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "campusmon", "server", "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=fh,
                env=dict(os.environ),
            )
        return self

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self, timeout: float = 30.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc is not None else None
        self.proc.terminate()
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def ownership(config: Path) -> dict[str, Any]:
    """`campusmon server workers --json` (the real CLI)."""
    out = subprocess.run(
        [sys.executable, "-m", "campusmon", "server", "workers", "--json", "--config", str(config)],
        capture_output=True,
        check=True,
        timeout=60,
        env=dict(os.environ),
    )
    data: dict[str, Any] = json.loads(out.stdout)
    return data


def owners(config: Path) -> dict[str, str]:
    """campus -> the live worker that owns it."""
    data = ownership(config)
    return {c: w["worker"] for w in data["workers"] if w["alive"] for c in w["campuses"]}


@dataclass
class ReportPublisher:
    """Publishes numbered reports for many devices (QoS 1) from one client per campus; every report's
    `uptime_seconds` is its seq and its ts is one second after the previous one of that device, so
    the time-series database shows each stored report once as (ts, seq)."""

    host: str
    port: int
    devices: list[tuple[str, str]]
    #: reports per second, all devices together
    rate: float = 100.0
    #: the first report's timestamp (in the past: replay-like, stored and never alerted on)
    base_ts: float = field(default_factory=lambda: time.time() - 6 * 3600)
    sent: dict[tuple[str, str], int] = field(default_factory=dict)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _clients: dict[str, mqtt.Client] = field(default_factory=dict)

    def start(self) -> ReportPublisher:
        for campus in sorted({c for c, _ in self.devices}):
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"pub-{campus}", protocol=mqtt.MQTTv5)
            c.max_queued_messages_set(0)
            c.connect(self.host, self.port)
            c.loop_start()
            self._clients[campus] = c
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        every = 1.0 / self.rate
        nxt = time.monotonic()
        while not self._stop.is_set():
            for campus, device in self.devices:
                if self._stop.is_set():
                    return
                seq = self.sent.get((campus, device), 0) + 1
                m = Metrics(
                    campus=campus,
                    device=device,
                    ts=self.base_ts + seq,
                    seq=seq,
                    interval=30,
                    metrics={"uptime": {"uptime_seconds": seq}},
                )
                self._clients[campus].publish(topic(campus, device, "metrics"), encode(m), qos=1)
                self.sent[(campus, device)] = seq
                nxt += every
                pause = nxt - time.monotonic()
                if pause > 0:
                    time.sleep(pause)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)
        for c in self._clients.values():
            c.disconnect()
            c.loop_stop()


def stored_seqs(vm: Any, campuses: Iterable[str]) -> dict[tuple[str, str], list[int]]:
    """(campus, device) -> every stored report's seq (VictoriaMetrics `uptime_uptime_seconds`)."""
    vm.flush()
    out: dict[tuple[str, str], list[int]] = {}
    for c in campuses:
        for series in vm.export(f'uptime_uptime_seconds{{campus="{c}"}}'):
            key = (series["metric"]["campus"], series["metric"]["device"])
            out.setdefault(key, []).extend(int(v) for v in series["values"])
    return out


class Relay:
    """A TCP relay standing for the campus-to-centre link: `cut()` severs it (and refuses new
    connections) until `restore()`."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.up = True
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", self.port))
        self._listener.listen()
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            if not self.up:
                conn.close()
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                conn.close()
                continue
            with self._lock:
                self._conns += [conn, upstream]
            for a, b in ((conn, upstream), (upstream, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(a: socket.socket, b: socket.socket) -> None:
        try:
            while data := a.recv(65536):
                b.sendall(data)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.close()
            except OSError:
                pass

    def cut(self) -> None:
        self.up = False
        with self._lock:
            conns, self._conns = self._conns, []
        for s in conns:
            try:
                s.shutdown(socket.SHUT_RDWR)
                s.close()
            except OSError:
                pass

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


def bridge_conf(campus: str, relay_port: int, root: str = "campusmon") -> str:
    """The campus broker's bridge to the centre, as the Ansible broker role writes it."""
    return (
        f"connection campus-{campus}\n"
        f"address 127.0.0.1:{relay_port}\n"
        f"remote_clientid campusmon-bridge-{campus}\n"
        "cleansession false\n"
        f"topic {root}/{campus}/# out 1\n"
        "notifications true\n"
        f"notification_topic {root}/$bridge/{campus}/state\n"
        "keepalive_interval 5\n"
        "restart_timeout 1 5\n"
    )


def local_reports(data_dirs: Iterable[Path]) -> Counter[tuple[str, str, int]]:
    """(campus, device, seq) -> how many workers' embedded stores hold that report. A report stored by
    a worker killed before it acknowledged it is stored again by the campus's next owner: the
    embedded stores are per worker; the time-series database is the district's one copy."""
    seen: Counter[tuple[str, str, int]] = Counter()
    for d in data_dirs:
        path = d / "metrics.db"
        if not path.exists():
            continue
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute(
                "SELECT d.campus, d.device, r.seq FROM reports r JOIN devices d ON d.id = r.device_id"
            ).fetchall()
        finally:
            conn.close()
        seen.update((str(c), str(dv), int(q)) for c, dv, q in rows)
    return seen


def notified_tickets(hook: Any) -> Counter[tuple[int, str]]:
    """(ticket id, event) -> how many times a webhook message (a RobotReceiver's) said it."""
    seen: Counter[tuple[int, str]] = Counter()
    for r in hook.received:
        body: dict[str, Any] = r.body
        if "ticket" in body:
            seen[(int(body["ticket"]["id"]), str(body["event"]))] += 1
        for t in body.get("tickets", []):
            seen[(int(t["id"]), str(t.get("event", body.get("event", ""))))] += 1
    return seen
