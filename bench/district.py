"""A simulated district on this machine: 10,000 devices on 50 campuses reporting every 30 s (333 reports/s)
to two `campusmon server run` workers that share the campuses through leases in PostgreSQL and write
every report to VictoriaMetrics, for 10 minutes, with room power cuts and unplugged document cameras.

    .venv/bin/python -m bench.district                       # the district: 10,000 devices, 10 minutes
    .venv/bin/python -m bench.district --devices 400 --campuses 4 --minutes 1     # a quick look

What runs, all real and on 127.0.0.1: a private PostgreSQL (fsync on, as deployed), VictoriaMetrics
(`-dedup.minScrapeInterval=1ms`, as the Ansible role starts it), the central Mosquitto and two worker
processes (production defaults: lease 15 s, renew 3 s, sweep 2 s, one webhook channel). The register is
imported first (one spreadsheet row per device: labs of 40 PCs, classrooms with a panel), then every
device says `online` and publishes its inventory (retained, as the agent does) so the register links
it to its asset and room. The measured window starts once every device is online and linked.

The load: one MQTT connection per campus (what a campus broker's bridge is to the centre) publishes
its devices' reports, shaped like the real agent's (bench/agent_report.py: 65 samples, ~2.7 KB), each
device at its own phase of the interval. Faults, spread over the window:

- a lab loses power: its 40 PCs go `lost` at once (the status the broker publishes as each one's
  will) and stop reporting; 90 s later they are back (`online`, reports again) -> one `room_down`
  ticket per cut, resolved when they return;
- a panel's document camera is unplugged (the agent's `peripheral_removed` event), plugged back 60 s
  later -> one `peripheral_missing` ticket each.

What is printed:
- ingest lag: publish (the report's ts) -> the worker has stored it (the device's `last_seen` in
  PostgreSQL, written by the worker at storage, batched), for every report, p50/p99/max; and the lag as
  this bench saw it (its poll of PostgreSQL every 2 s: an upper bound, poll period included). The
  reports' ts are whole seconds (bench/agent_report.py), so both include 0-1 s of that rounding;
- fault -> ticket: injection -> the ticket row in PostgreSQL (this bench polls for new tickets every
  0.25 s; a ticket's own `opened_at` is the fault's time on the device's clock, so it cannot serve),
  p50/p99/max, and whether each fault has exactly one ticket; fault -> the webhook message received
  (the technician's notification); webhook messages, none sent twice;
- nothing lost: per device, the last stored seq in PostgreSQL equals the reports sent, and
  VictoriaMetrics holds every report once (`uptime_seconds` samples counted per device);
- CPU per report per component (workers, PostgreSQL with its backends, VictoriaMetrics, Mosquitto,
  and this bench's own load generator), CPU % of the machine, peak RSS; and the publisher's lateness
  (how far behind its schedule it published: if it is late, the load was lower than asked).

Needs: mosquitto, PostgreSQL server binaries, victoria-metrics (Debian packages; `bash dev.sh test`
installs them). Linux only (/proc via psutil).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import heapq
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from bench.agent_report import AgentLikeDevice
from campusmon.contract import Inventory, Status, encode, topic
from campusmon.demo.simulator import camera_event, hardware_of
from campusmon.hashing import content_hash
from campusmon.server.db import Database
from campusmon.server.models import Device, Ticket
from campusmon.server.register.models import Asset
from campusmon.server.register.service import RegisterService
from campusmon.server.register.spreadsheet import Importer
from tests.support.district import WorkerProcess, notified_tickets, owners, worker_config
from tests.support.mosquitto import MosquittoProcess
from tests.support.postgres import PostgresProcess
from tests.support.receivers import RobotReceiver
from tests.support.victoriametrics import VictoriaMetricsProcess

LAB_SIZE = 40
LAB_CUT_SECONDS = 90.0
CAMERA_OUT_SECONDS = 60.0


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))]


def campus_layout(per_campus: int) -> list[tuple[str, str]]:
    """(device, room) of one campus: labs of 40 PCs for 80 % of it, classrooms with one panel each."""
    labs = max(1, (per_campus * 4 // 5) // LAB_SIZE)
    out = [(f"lab{lab + 1}-pc{i + 1:02d}", f"lab{lab + 1}") for lab in range(labs) for i in range(LAB_SIZE)]
    room = 101
    while len(out) < per_campus:
        out.append((f"c{room}-panel", f"c{room}"))
        room += 1
    return out[:per_campus]


@dataclass
class SimDevice:
    campus: str
    device: str
    room: str
    phase: float
    report: AgentLikeDevice
    connected_at: float = 0.0
    down: bool = False
    sent: int = 0

    @property
    def key(self) -> tuple[str, str]:
        return (self.campus, self.device)

    def hardware(self, n: int) -> dict[str, Any]:
        """The agent's inventory with identifiers unique across the district (the simulator's hashed
        serials collide among 10,000 devices)."""
        hw = hardware_of(self.campus, self.device)
        digest = hashlib.sha256(f"district/{self.campus}/{self.device}".encode()).digest()
        hw["smbios"]["serial"] = serial_of(n)
        hw["smbios"]["board_serial"] = f"BD{n:08d}"
        hw["smbios"]["uuid"] = str(uuid.UUID(bytes=digest[:16]))
        hw["nics"][0]["mac"] = "02:" + ":".join(f"{b:02x}" for b in digest[16:21])
        hw["disks"][0]["serial"] = f"DK{n:08d}"
        return hw


def serial_of(n: int) -> str:
    return f"DS{n:08d}"


@dataclass
class Injected:
    kind: str  # room_down | peripheral_missing
    campus: str
    target: str  # room or device
    at: float
    ticket_at: float | None = None
    tickets: int = 0


@dataclass
class Load:
    """The district's publishers: one MQTT client per campus, a scheduler thread, the faults."""

    host: str
    port: int
    devices: list[SimDevice]
    interval: float
    clients: dict[str, mqtt.Client] = field(default_factory=dict)
    late: list[float] = field(default_factory=list)
    faults: list[Injected] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    _thread: threading.Thread | None = None
    _timers: list[threading.Timer] = field(default_factory=list)

    def connect(self) -> None:
        for campus in sorted({d.campus for d in self.devices}):
            c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"bridge-{campus}", protocol=mqtt.MQTTv5)
            c.max_inflight_messages_set(200)
            c.max_queued_messages_set(0)
            c.connect(self.host, self.port, keepalive=30)
            c.loop_start()
            self.clients[campus] = c

    def publish(self, campus: str, tpc: str, payload: bytes, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.clients[campus].publish(tpc, payload, qos=1, retain=retain)

    def status(self, d: SimDevice, state: str, reason: str | None = None) -> mqtt.MQTTMessageInfo:
        now = time.time()
        if state == "online":
            d.connected_at = max(now, d.connected_at + 0.001)
        msg = Status(
            campus=d.campus,
            device=d.device,
            ts=now if state != "lost" else d.connected_at,
            state=state,  # type: ignore[arg-type]
            reason=reason,
            interval=int(self.interval),
            agent="campusmon-bench/1",
            connected=d.connected_at,
        )
        return self.publish(d.campus, topic(d.campus, d.device, "status"), encode(msg), retain=True)

    def inventory(self, d: SimDevice, n: int) -> mqtt.MQTTMessageInfo:
        hw = d.hardware(n)
        sm = hw["smbios"]
        identity = {
            "smbios_uuid": sm["uuid"],
            "board_serial": sm["board_serial"],
            "system_serial": sm["serial"],
            "macs": hw["nics"][0]["mac"],
        }
        msg = Inventory(
            campus=d.campus,
            device=d.device,
            ts=time.time(),
            hash=content_hash(hw),
            identity=identity,
            inventory=hw,
        )
        return self.publish(d.campus, topic(d.campus, d.device, "inventory"), encode(msg), retain=True)

    # -- reports -------------------------------------------------------------------------------
    def start_reports(self) -> None:
        self._thread = threading.Thread(target=self._run, name="reports", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        start = time.time()
        queue = [(start + d.phase, i) for i, d in enumerate(self.devices)]
        heapq.heapify(queue)
        while not self.stop_event.is_set():
            due, i = queue[0]
            now = time.time()
            if due > now:
                self.stop_event.wait(min(0.05, due - now))
                continue
            heapq.heapreplace(queue, (due + self.interval, i))
            d = self.devices[i]
            with self.lock:
                if d.down:
                    continue
                self.late.append(now - due)
                payload = encode(d.report.report(now))
                d.sent = d.report.seq
            self.publish(d.campus, topic(d.campus, d.device, "metrics"), payload)

    # -- faults --------------------------------------------------------------------------------
    def cut_room(self, campus: str, room: str) -> Injected:
        """A lab's power goes: every PC's will (`lost`) at once, reports stop; back after a while."""
        lab = [d for d in self.devices if d.campus == campus and d.room == room]
        f = Injected("room_down", campus, room, time.time())
        with self.lock:
            for d in lab:
                d.down = True
                self.status(d, "lost")
        self.faults.append(f)
        self._later(LAB_CUT_SECONDS, lambda: self.restore_room(lab))
        return f

    def restore_room(self, lab: list[SimDevice]) -> None:
        with self.lock:
            for d in lab:
                self.status(d, "online")
                d.down = False

    def unplug_camera(self, d: SimDevice) -> Injected:
        f = Injected("peripheral_missing", d.campus, d.device, time.time())
        self._camera(d, plugged=False)
        self.faults.append(f)
        self._later(CAMERA_OUT_SECONDS, lambda: self._camera(d, plugged=True))
        return f

    def _camera(self, d: SimDevice, plugged: bool) -> None:
        ev = camera_event(d.campus, d.device, plugged)
        self.publish(d.campus, topic(d.campus, d.device, "events"), encode(ev))

    def _later(self, seconds: float, fn: Any) -> None:
        t = threading.Timer(seconds, fn)
        t.daemon = True
        t.start()
        self._timers.append(t)

    def stop(self) -> None:
        self.stop_event.set()
        if self._thread is not None:
            self._thread.join(10)

    def close(self) -> None:
        self.stop()
        for t in self._timers:
            t.cancel()
        for c in self.clients.values():
            c.disconnect()
            c.loop_stop()


# -- CPU accounting ------------------------------------------------------------------------------
def cpu_seconds(proc: psutil.Process, with_children: bool = False) -> float:
    """utime+stime; with_children: also reaped children (cutime) and the live children."""
    try:
        t = proc.cpu_times()
        total = t.user + t.system
        if with_children:
            total += t.children_user + t.children_system
            for ch in proc.children(recursive=True):
                try:
                    c = ch.cpu_times()
                    total += c.user + c.system
                except psutil.NoSuchProcess:
                    pass
        return total
    except psutil.NoSuchProcess:
        return 0.0


def rss_mib(proc: psutil.Process, with_children: bool = False) -> float:
    """RSS; with_children: PSS summed over the process and its children (shared memory once)."""
    try:
        if not with_children:
            return float(proc.memory_info().rss) / 2**20
        total = proc.memory_full_info().pss
        if with_children:
            for ch in proc.children(recursive=True):
                try:
                    total += ch.memory_full_info().pss
                except psutil.NoSuchProcess:
                    pass
        return total / 2**20
    except psutil.NoSuchProcess:
        return 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=10_000)
    ap.add_argument("--campuses", type=int, default=50)
    ap.add_argument("--interval", type=float, default=30.0, help="seconds between a device's reports")
    ap.add_argument("--minutes", type=float, default=10.0, help="the measured window")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--room-cuts", type=int, default=20, help="lab power cuts during the window")
    ap.add_argument("--cameras", type=int, default=40, help="document cameras unplugged during the window")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, databases)")
    args = ap.parse_args()
    # a stopped bench (SIGTERM) still stops what it started
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    if not 1 <= args.campuses <= args.devices:
        raise SystemExit("--campuses must be between 1 and --devices")

    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="campusmon-district-"))
    per_campus = args.devices // args.campuses
    campuses = [f"s{i + 1:02d}" for i in range(args.campuses)]
    devices: list[SimDevice] = []
    for c in campuses:
        for name, room in campus_layout(per_campus):
            devices.append(
                SimDevice(
                    c,
                    name,
                    room,
                    rng.uniform(0, args.interval),
                    AgentLikeDevice(c, name, interval=int(args.interval), seed=len(devices)),
                )
            )
    print(
        f"district: {len(devices):,} devices on {len(campuses)} campuses, a report every "
        f"{args.interval:.0f} s = {len(devices) / args.interval:,.0f} reports/s, {args.workers} workers, "
        f"{args.minutes:g} minutes; work dir {work}",
        flush=True,
    )

    pg = PostgresProcess(fsync=True)  # its own /tmp dir: the postgres user must reach it
    vm = VictoriaMetricsProcess(work / "vm", extra=("-dedup.minScrapeInterval=1ms",))
    broker = MosquittoProcess(work / "broker")
    hook = RobotReceiver("webhook")
    workers: list[WorkerProcess] = []
    load: Load | None = None
    me = psutil.Process()
    try:
        pg.start()
        vm.start()
        broker.start()
        db = Database(pg.url)  # migrations, as the first worker would run them

        # the district's register: one spreadsheet, one row per device
        sheet = work / "register.csv"
        with sheet.open("w", encoding="utf-8", newline="") as fh:
            out = csv.writer(fh)
            out.writerow(["asset_tag", "name", "type", "campus", "building", "room", "serial"])
            for n, d in enumerate(devices):
                kind = "panel" if "panel" in d.device else "pc"
                building = "science" if d.room.startswith("lab") else "teaching"
                out.writerow(
                    [f"{d.campus.upper()}-{n:05d}", d.device, kind, d.campus, building, d.room, serial_of(n)]
                )
        t = time.perf_counter()
        report = Importer(RegisterService(db), actor="import:register.csv").run(sheet)
        if report.errors:
            raise SystemExit(f"register import: {report.errors[:3]}")
        print(f"register: {report.created:,} assets imported in {time.perf_counter() - t:.1f} s", flush=True)

        for i in range(args.workers):
            name = f"w{i + 1}"
            cfg = worker_config(
                work / f"{name}.toml",
                name=name,
                data_dir=work / name,
                broker_port=broker.port,
                database_url=pg.url,
                campuses=campuses,
                vm_url=vm.url,
                webhook=hook.url,
                lease_seconds=15.0,
                renew_seconds=3.0,
                sweep_seconds=2.0,
                flush_interval_seconds=1.0,
            )
            workers.append(WorkerProcess(name, cfg, work / f"{name}.log").start())
        cfg = workers[0].config
        deadline = time.monotonic() + 120
        while True:
            own = owners(cfg)
            per = Counter(own.values())
            if (
                set(own) == set(campuses)
                and len(per) == len(workers)
                and max(per.values()) - min(per.values()) <= 1
            ):
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"campuses not shared out in 120 s: {dict(per)}")
            time.sleep(1.0)
        print(f"workers: {dict(sorted(Counter(own.values()).items()))} campuses each", flush=True)
        time.sleep(3.0)  # every campus session subscribed

        load = Load(broker.host, broker.port, devices, args.interval)
        load.connect()
        t = time.perf_counter()
        last: mqtt.MQTTMessageInfo | None = None
        for n, d in enumerate(devices):
            load.status(d, "online")
            last = load.inventory(d, n)
            if n % 500 == 499:
                last.wait_for_publish(60)
        if last is not None:
            last.wait_for_publish(60)
        load.start_reports()  # as agents do: reports from the first interval on
        reports_from = time.monotonic()

        def settled() -> tuple[int, int]:
            with db.session() as s:
                online = s.scalar(select(func.count()).select_from(Device).where(Device.state == "online"))
                linked = s.scalar(
                    select(func.count()).select_from(Asset).where(Asset.link_device.is_not(None))
                )
            return int(online or 0), int(linked or 0)

        deadline = time.monotonic() + 900
        while (got := settled()) != (len(devices), len(devices)) or time.monotonic() - reports_from < (
            args.interval + 5
        ):
            if time.monotonic() > deadline:
                raise SystemExit(f"after 900 s: {got[0]:,} online, {got[1]:,} linked of {len(devices):,}")
            time.sleep(2.0)
        linked_in = time.perf_counter() - t

        def behind() -> int:
            """Devices whose newest stored report is older than one interval (+5 s): the workers are
            still working through the boot storm's backlog."""
            cutoff = datetime.fromtimestamp(time.time() - args.interval - 5, UTC)
            with db.session() as s:
                n = s.scalar(select(func.count()).select_from(Device).where(Device.last_report_ts < cutoff))
            return int(n or 0)

        caught_up = 0
        while caught_up < 3:  # three checks in a row: the backlog is gone, not between two bursts
            if time.monotonic() > deadline:
                raise SystemExit(f"the workers did not catch up in 900 s: {behind():,} devices behind")
            caught_up = caught_up + 1 if behind() == 0 else 0
            time.sleep(2.0)
        print(
            f"warm-up (a boot storm: every device's status and first inventory at once): online and "
            f"linked to their assets after {linked_in:.1f} s, the workers caught up with the reports "
            f"after {time.perf_counter() - t:.1f} s",
            flush=True,
        )

        # -- the measured window -------------------------------------------------------------
        pg_proc = psutil.Process(int((pg.datadir / "postmaster.pid").read_text().split()[0]))
        assert vm.proc is not None and broker.proc is not None
        comps: dict[str, tuple[list[psutil.Process], bool]] = {
            "workers": ([psutil.Process(w.proc.pid) for w in workers if w.proc is not None], False),
            "PostgreSQL": ([pg_proc], True),
            "VictoriaMetrics": ([psutil.Process(vm.proc.pid)], False),
            "Mosquitto": ([psutil.Process(broker.proc.pid)], False),
            "load generator": ([me], False),
        }

        def cpu_now() -> dict[str, float]:
            return {k: sum(cpu_seconds(p, ch) for p in ps) for k, (ps, ch) in comps.items()}

        peak: dict[str, float] = dict.fromkeys(comps, 0.0)
        window = args.minutes * 60
        labs = sorted({(d.campus, d.room) for d in devices if d.room.startswith("lab")})
        panels = [d for d in devices if "panel" in d.device]
        cuts = rng.sample(labs, min(args.room_cuts, len(labs)))
        cams = rng.sample(panels, min(args.cameras, len(panels)))
        # faults from 20 s in to a fault-free last 2 minutes (all back and resolved before the end)
        span = max(1.0, window - 20 - max(LAB_CUT_SECONDS, CAMERA_OUT_SECONDS) - 30)
        plan: list[tuple[float, Any]] = [
            (20 + span * i / max(1, len(cuts)), ("cut", c)) for i, c in enumerate(cuts)
        ]
        plan += [(25 + span * i / max(1, len(cams)), ("cam", d)) for i, d in enumerate(cams)]
        plan.sort(key=lambda p: p[0])

        floor = 0
        seen_seq: dict[int, int] = {}
        lag_server: list[float] = []
        lag_seen: list[float] = []
        tickets: dict[int, tuple[str, str, str, str, float]] = {}

        def poll() -> None:
            """Every device whose stored seq moved since the last poll: its newest report's lag."""
            now = time.time()
            with db.session() as s:
                rows = s.execute(
                    select(Device.id, Device.last_seq, Device.last_seen, Device.last_report_ts)
                ).all()
            for dev_id, seq, seen, rts in rows:
                prev = seen_seq.get(dev_id, 0)
                seen_seq[dev_id] = seq or 0
                if seq is None or seq <= prev or seen is None or rts is None:
                    continue
                ts = rts.timestamp()
                lag_server.append(seen.timestamp() - ts)
                lag_seen.append(now - ts)

        def poll_tickets() -> None:
            """New tickets, noted when this bench first sees them (every 0.25 s)."""
            now = time.time()
            with db.session() as s:
                new = s.execute(
                    select(Ticket.id, Ticket.campus, Ticket.device, Ticket.room, Ticket.problem).where(
                        Ticket.id > max(tickets, default=floor)
                    )
                ).all()
            for tk in new:
                tickets[tk.id] = (tk.campus, tk.device, tk.room, tk.problem, now)

        ticket_stop = threading.Event()

        def watch_tickets() -> None:
            while not ticket_stop.wait(0.25):
                poll_tickets()

        watcher = threading.Thread(target=watch_tickets, name="tickets", daemon=True)
        poll()  # the warm-up's reports are the baseline
        poll_tickets()
        warmup_tickets = dict(tickets)
        tickets.clear()
        if warmup_tickets:
            print(f"  tickets in the warm-up: {Counter(t[3] for t in warmup_tickets.values())}", flush=True)
        floor = max(warmup_tickets, default=0)
        watcher.start()
        lag_server.clear()
        lag_seen.clear()
        sent0 = sum(d.sent for d in devices)
        with load.lock:
            load.late.clear()
        cpu0 = cpu_now()
        wall0 = time.monotonic()
        next_poll = time.monotonic() + 2.0
        last_print = time.monotonic()
        while (elapsed := time.monotonic() - wall0) < window:
            while plan and plan[0][0] <= elapsed:
                _, (kind, what) = plan.pop(0)
                if kind == "cut":
                    load.cut_room(*what)
                else:
                    load.unplug_camera(what)
            if time.monotonic() >= next_poll:
                poll()
                next_poll += 2.0
                for k, (ps, ch) in comps.items():
                    peak[k] = max(peak[k], sum(rss_mib(p, ch) for p in ps))
            if time.monotonic() - last_print >= 60:
                last_print = time.monotonic()
                print(
                    f"  {elapsed / 60:4.1f} min: {sum(d.sent for d in devices):,} reports sent, "
                    f"lag p99 so far {pct(lag_server, 99):.2f} s, {len(load.faults)} faults, "
                    f"{len(tickets)} tickets",
                    flush=True,
                )
            time.sleep(0.2)
        load.stop()
        wall = time.monotonic() - wall0
        total_sent = sum(d.sent for d in devices)
        sent = total_sent - sent0
        cpu1 = cpu_now()

        # -- drain and check ----------------------------------------------------------------
        drain0 = time.monotonic()

        def last_seqs() -> dict[tuple[str, str], int]:
            with db.session() as s:
                rows = s.execute(select(Device.campus, Device.device, Device.last_seq)).all()
            return {(c, dv): int(q or 0) for c, dv, q in rows}

        deadline = time.monotonic() + 300
        while True:
            poll()
            stored_last = last_seqs()
            missing_pg = [d.key for d in devices if d.report.seq and stored_last.get(d.key) != d.report.seq]
            if not missing_pg or time.monotonic() > deadline:
                break
            time.sleep(2.0)
        drained = time.monotonic() - drain0
        # VictoriaMetrics: every report's uptime sample, counted per device
        deadline = time.monotonic() + 300
        while True:
            vm.flush()
            res = vm.query(
                f"count_over_time(uptime_uptime_seconds[{int(time.monotonic() - reports_from + 60)}s])",
                at=time.time(),
            )
            in_vm = {
                (r["metric"].get("campus", ""), r["metric"].get("device", "")): int(float(r["value"][1]))
                for r in res["data"]["result"]
            }
            short = {
                d.key: (in_vm.get(d.key, 0), d.report.seq)
                for d in devices
                if in_vm.get(d.key, 0) != d.report.seq
            }
            if not short or time.monotonic() > deadline:
                break
            time.sleep(3.0)
        time.sleep(3.0)
        poll()
        ticket_stop.set()
        watcher.join(5)
        poll_tickets()

        # fault -> ticket
        by_room: dict[tuple[str, str], list[tuple[int, float]]] = {}
        by_dev: dict[tuple[str, str], list[tuple[int, float]]] = {}
        other: Counter[str] = Counter()
        for tid, (c, dv, room, problem, opened) in tickets.items():
            if problem == "room_down":
                by_room.setdefault((c, room.split("/")[-1]), []).append((tid, opened))
            elif problem == "peripheral_missing":
                by_dev.setdefault((c, dv), []).append((tid, opened))
            else:
                other[problem] += 1
        f2t: list[float] = []
        f2n: list[float] = []
        first_message: dict[int, float] = {}
        for r in hook.received:
            msg: dict[str, Any] = r.body
            for tk in [msg["ticket"]] if "ticket" in msg else msg.get("tickets", []):
                first_message.setdefault(int(tk["id"]), r.at)
        wrong: list[str] = []
        for f in load.faults:
            matched = (by_room if f.kind == "room_down" else by_dev).get((f.campus, f.target), [])
            if len(matched) != 1:
                wrong.append(f"{f.kind} {f.campus}/{f.target}: {len(matched)} tickets")
                continue
            f2t.append(matched[0][1] - f.at)
            if matched[0][0] in first_message:
                f2n.append(first_message[matched[0][0]] - f.at)
        notified = notified_tickets(hook)
        twice = sum(1 for n in notified.values() if n > 1)
        opened_notified = {tid for tid, ev in notified if ev == "opened"}

        # -- print ------------------------------------------------------------------------------
        rate = sent / wall
        print()
        print(
            f"window {wall:.0f} s: {sent:,} reports sent ({rate:,.1f}/s), publisher behind schedule "
            f"p99 {pct(load.late, 99) * 1e3:.0f} ms, max {max(load.late, default=0) * 1e3:.0f} ms"
        )
        print(
            f"ingest lag (publish -> stored by a worker, every report): p50 {pct(lag_server, 50):.2f} s, "
            f"p99 {pct(lag_server, 99):.2f} s, max {max(lag_server, default=float('nan')):.2f} s "
            f"({len(lag_server):,} reports)"
        )
        print(
            f"  as the bench saw it (poll every 2 s, upper bound): p50 {pct(lag_seen, 50):.2f} s, "
            f"p99 {pct(lag_seen, 99):.2f} s"
        )
        print(
            f"fault -> ticket in PostgreSQL (seen by a poll every 0.25 s; {len(load.faults)} faults: "
            f"{len(cuts)} lab power cuts of {LAB_SIZE} PCs, "
            f"{len(cams)} cameras): p50 {pct(f2t, 50):.2f} s, p99 {pct(f2t, 99):.2f} s, "
            f"max {max(f2t, default=float('nan')):.2f} s; faults without exactly one ticket: {len(wrong)}"
            + (f" {wrong[:3]}" if wrong else "")
        )
        print(
            f"fault -> webhook message received: p50 {pct(f2n, 50):.2f} s, p99 {pct(f2n, 99):.2f} s, "
            f"max {max(f2n, default=float('nan')):.2f} s ({len(f2n)} faults)"
        )
        print(
            f"  other tickets: {dict(other) or 'none'}; webhook messages {len(hook.received)}, "
            f"tickets notified as opened {len(opened_notified)} of {len(tickets)}, sent twice: {twice}"
        )
        print(
            f"nothing lost: PostgreSQL last seq = reports sent for {len(devices) - len(missing_pg):,} of "
            f"{len(devices):,} devices; VictoriaMetrics holds every report once for "
            f"{len(devices) - len(short):,} devices ({sum(in_vm.values()):,} samples of {total_sent:,}); "
            f"drained {drained:.1f} s after the window"
        )
        if short:
            print(f"  VictoriaMetrics short: {list(short.items())[:5]}")
        cores = psutil.cpu_count() or 1
        print()
        print(f"{'component':18} {'CPU s':>8} {'CPU %':>7} {'ms/report':>10} {'peak MiB':>13}")
        for k in comps:
            used = cpu1[k] - cpu0[k]
            per_report = used / max(1, sent) * 1e3
            print(f"{k:18} {used:8.1f} {used / wall * 100:7.1f} {per_report:10.3f} {peak[k]:13.1f}")
        total = sum(cpu1[k] - cpu0[k] for k in comps if k != "load generator")
        per_report = total / max(1, sent) * 1e3
        print(
            f"{'campusmon district':18} {total:8.1f} {total / wall * 100:7.1f} {per_report:10.3f}"
            f"   (all but the load generator; the machine has {cores} cores = {cores * 100} %)"
        )
        print("(peak MiB: RSS; PostgreSQL: PSS of the postmaster and its backends, shared buffers once)")
        ok = (
            not wrong
            and not missing_pg
            and not short
            and twice == 0
            and pct(lag_server, 99) < 5
            and pct(f2t, 99) < 5
        )
        print("district bench: " + ("targets met" if ok else "TARGETS NOT MET"))
        if not ok:
            sys.exit(1)
    finally:
        if load is not None:
            load.close()
        for w in workers:
            w.stop(60)
        broker.stop()
        vm.stop()
        pg.stop()
        hook.close()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


if __name__ == "__main__":
    main()
