"""`campusmon demo`: a simulated campus on a managed broker and server, with faults and recovery.

One classroom panel is a real `campusmon agent run` process (killed with SIGKILL: a power cut);
the other devices are simulated MQTT clients that speak the same contract, inventory included. The
school's spreadsheet (generated) is imported into the asset register first: the inventories claim its
rows by serial, so every device has its room, and tickets say where the problem is.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from campusmon.server.broker_auth import BrokerUsers, write_private
from campusmon.server.config import (
    BrokerSettings,
    CampusTopologySettings,
    HttpSettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
    ThresholdRuleSettings,
    default_threshold_rules,
)
from campusmon.server.db import Database
from campusmon.server.models import Device, Ticket
from campusmon.server.register.models import Asset, AssetHistory, Building, Room
from campusmon.server.register.service import RegisterService
from campusmon.server.service import Server

from .simulator import SimDevice, hardware_of

CAMPUS = "main"
INTERVAL = 2
#: the console login `campusmon demo` prints (a throw-away database on 127.0.0.1 only)
DEMO_USER = "demo"
DEMO_PASSWORD = "campusmon-demo"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def room_of(device: str) -> str:
    """BUILDING/ROOM, as the register names it: classrooms in the teaching block, labs in science."""
    room = device.split("-", 1)[0]
    return f"{'science' if room.startswith('lab') else 'teaching'}/{room}"


def write_spreadsheet(path: Path, names: list[str]) -> None:
    """The school's asset spreadsheet (what `campusmon assets import` reads) for the simulated devices."""
    import csv

    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(
            ["asset_tag", "name", "type", "campus", "building", "room", "serial", "vendor", "model"]
            + ["purchase_date", "warranty_end", "department"]
        )
        for i, name in enumerate(names, start=1):
            sm = hardware_of(CAMPUS, name)["smbios"]
            building, room = room_of(name).split("/")
            kind = "panel" if "panel" in name else "pc"
            w.writerow(
                [f"ZX-{i:04d}", name, kind, CAMPUS, building, room, sm["serial"], sm["vendor"], sm["product"]]
                + ["2023-08-28", "2026-08-27" if kind == "pc" else "2028-08-27", "IT office"]
            )


def layout(n: int) -> list[str]:
    """A computer lab plus classrooms with an interactive panel and a teacher PC each."""
    n_class = max(2, n // 4)
    names: list[str] = []
    for i in range(n_class):
        room = f"c{302 + i}"
        names += [f"{room}-panel", f"{room}-pc"]
    names += [f"lab301-pc{i + 1:02d}" for i in range(max(0, n - len(names)))]
    return names[:n]


@dataclass
class Step:
    at: float
    text: str
    run: Callable[[], None]
    done: bool = False


class RealAgent:
    """A real agent process for one panel."""

    def __init__(self, device: str, port: int, workdir: Path) -> None:
        self.device = device
        self.port = port
        self.workdir = workdir
        self.config = workdir / f"{device}.toml"
        self.log = workdir / f"{device}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def enrol(self, users: BrokerUsers) -> None:
        """Its own broker user, written into its config (what `campusmon server credentials add-device`
        prints for a technician)."""
        login = users.add_device(CAMPUS, self.device, replace=True)
        write_private(
            self.config,
            f'[agent]\ncampus = "{CAMPUS}"\ndevice = "{self.device}"\ninterval = {INTERVAL}\n'
            f'state_dir = "{self.workdir / "agent-state"}"\nlog_level = "warning"\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {self.port}\nkeepalive = 10\n'
            f'username = "{login.username}"\npassword = "{login.password}"\n',
        )

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(self.config)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)


@dataclass
class RegisterView:
    """What the register holds: rooms by device, asset counts per room, the component changes."""

    rooms: dict[str, str] = field(default_factory=dict)
    per_room: Counter[str] = field(default_factory=Counter)
    assets: int = 0
    #: (device, component, what happened, the item) from the `inventory.*` history rows
    changes: list[tuple[str, str, str, str]] = field(default_factory=list)

    def describe(self, last: int) -> list[str]:
        return [f"{d}: {c} {what}: {item}" for d, c, what, item in self.changes[-last:]]


def register_view(db: Database) -> RegisterView:
    view = RegisterView()
    with db.session() as s:
        rows = s.execute(
            select(Asset.link_device, Building.name, Room.name)
            .select_from(Asset)
            .outerjoin(Room, Asset.room_id == Room.id)
            .outerjoin(Building, Room.building_id == Building.id)
            .where(Asset.merged_into.is_(None))
        ).all()
        for device, building, room in rows:
            place = f"{building}/{room}" if room else "(no room)"
            view.per_room[place] += 1
            if device:
                view.rooms[device] = place
        view.assets = len(rows)
        history = s.execute(
            select(
                Asset.link_device, AssetHistory.actor, AssetHistory.field, AssetHistory.old, AssetHistory.new
            )
            .join(Asset, Asset.id == AssetHistory.asset_id)
            .where(AssetHistory.field.like("inventory.%"))
            .order_by(AssetHistory.id)
        ).all()
    for device, _actor, fld, old, new in history:
        what = "removed" if new is None else "added" if old is None else "changed"
        view.changes.append((device or "?", fld.removeprefix("inventory."), what, old or new or ""))
    return view


def _snapshot(server: Server) -> tuple[list[Device], list[Ticket]]:
    assert server.db is not None
    with server.db.session() as s:
        devices = list(s.scalars(select(Device).order_by(Device.device)))
        tickets = list(s.scalars(select(Ticket).options(selectinload(Ticket.affected)).order_by(Ticket.id)))
    return devices, tickets


def _view(server: Server, started: float, duration: float, events: list[str]) -> Group:
    devices, tickets = _snapshot(server)
    assert server.db is not None
    reg = register_view(server.db)
    rooms: dict[str, list[Device]] = {}
    for d in devices:
        rooms.setdefault(reg.rooms.get(d.device, "(no room yet)"), []).append(d)
    dots = {"online": "[green]●[/]", "shutdown": "[dim]○[/]", "lost": "[bold red]✖[/]"}
    table = Table(title="campus main — live status", expand=True)
    table.add_column("room")
    table.add_column("devices")
    table.add_column("online", justify="right")
    table.add_column("assets", justify="right")
    for room, devs in sorted(rooms.items()):
        online = sum(d.state == "online" for d in devs)
        table.add_row(
            room,
            " ".join(dots.get(d.state, "?") for d in devs),
            f"{online}/{len(devs)}",
            str(reg.per_room.get(room, 0)),
        )
    tt = Table(title="tickets", expand=True)
    for col in ("#", "status", "room", "device", "problem", "summary"):
        tt.add_column(col)
    for t in tickets:
        color = "bold red" if t.status == "open" else "green"
        tt.add_row(
            str(t.id),
            f"[{color}]{t.status}[/]",
            t.room,
            t.device + (f" {t.subject}" if t.subject else ""),
            t.problem,
            t.summary,
        )
    elapsed = time.monotonic() - started
    counters = server.ingestor.snapshot() if server.ingestor else {}
    bar = ProgressBar(total=duration, completed=min(elapsed, duration))
    stats = (
        f"{elapsed:4.0f}/{duration:.0f} s   reports stored: {counters.get('accepted_metrics', 0)}   "
        f"status changes: {counters.get('accepted_status', 0)}   "
        f"inventories: {counters.get('accepted_inventory', 0)}"
    )
    placed = reg.assets - reg.per_room.get("(no room)", 0)
    register = Panel(
        f"{reg.assets} assets, {placed} in their rooms\n"
        + ("\n".join(f"[yellow]{c}[/]" for c in reg.describe(3)) or "[dim]no component changes[/]"),
        title="asset register",
    )
    timeline = Panel("\n".join(events[-10:]) or "starting…", title="timeline")
    return Group(bar, stats, table, tt, register, timeline)


@dataclass
class Cast:
    """Who plays which fault."""

    panel: str  # the real agent: power cut
    disk_pc: str  # disk fills up, then cleaned
    camera_panel: str  # document camera unplugged, then plugged back
    ram_pc: str  # a RAM module is stolen
    leavers: list[str]  # shut down cleanly at the end of the lesson


def cast(names: list[str]) -> Cast:
    labs = [n for n in names if n.startswith("lab")]
    disk_pc = labs[0] if labs else names[-1]
    ram_pc = next((n for n in reversed(labs) if n != disk_pc), None) or next(
        n for n in names if n.endswith("-pc") and n != disk_pc
    )
    leavers = [n for n in labs if n not in (disk_pc, ram_pc)][:6]
    camera_panel = next(n for n in names[1:] if n.endswith("-panel"))
    return Cast(names[0], disk_pc, camera_panel, ram_pc, leavers)


def run_demo(n_devices: int = 20, duration: float = 60.0, data_dir: Path | None = None) -> int:
    """Run the whole demo; returns the exit code (0 when every injected fault was ticketed as expected)."""
    from campusmon.server.register.spreadsheet import Importer

    console = Console()
    logging.basicConfig(level=logging.ERROR)
    temp = data_dir is None
    workdir = Path(tempfile.mkdtemp(prefix="campusmon-demo-")) if data_dir is None else data_dir
    workdir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    rules = default_threshold_rules()
    rules["disk_full"] = ThresholdRuleSettings(
        metric="disk_used_percent",
        above=90.0,
        recover_below=85.0,
        for_seconds=4.0,
        severity="warning",
        subject_label="mount",
    )
    names = layout(n_devices)
    who = cast(names)
    cfg = ServerConfig(
        broker=BrokerSettings(managed=True, port=port),
        storage=StorageSettings(data_dir=workdir / "server"),
        # the demo runs at any wall-clock time: every hour is school hours, so its faults are paged
        schedule=ScheduleSettings(default="always"),
        # the real agent reports this machine's hardware, which no spreadsheet row knows: its room
        # is written in the config until a technician files its new asset (below)
        topology={CAMPUS: CampusTopologySettings(rooms={who.panel: room_of(who.panel)})},
        http=HttpSettings(enabled=True, port=free_port(), language="zh-CN"),
    )
    cfg.rules.thresholds = rules
    server = Server(cfg)
    fleet: dict[str, SimDevice] = {}
    agent = RealAgent(who.panel, port, workdir)
    events: list[str] = []
    started = time.monotonic()
    stolen: dict[str, Any] = {}
    filed = False

    def log(text: str) -> None:
        events.append(f"[cyan]{time.monotonic() - started:5.1f}s[/] {text}")

    def fill_disk() -> None:
        fleet[who.disk_pc].disk_percent = 80.0
        fleet[who.disk_pc].disk_rate_per_s = 2.5

    def clean_disk() -> None:
        fleet[who.disk_pc].disk_rate_per_s = 0.0
        fleet[who.disk_pc].disk_percent = 52.0

    def steal_ram() -> None:
        stolen.update(fleet[who.ram_pc].remove_ram_module())

    def lesson_over() -> None:
        for n in who.leavers:
            fleet[n].shutdown("end of lesson")

    def file_panel(register: RegisterService) -> bool:
        """The technician puts the real panel's newly registered asset in its room (once)."""
        assert server.db is not None
        with server.db.session() as s:
            asset_id = s.scalars(
                select(Asset.id).where(Asset.link_campus == CAMPUS, Asset.link_device == who.panel)
            ).first()
        if asset_id is None:
            return False
        register.set(
            asset_id,
            actor="user:technician",
            values={"asset_tag": f"ZX-{len(names) + 1:04d}", "type": "panel"},
            room=room_of(who.panel),
        )
        log(f"🗂  technician files the new asset #{asset_id} ({who.panel}) in {room_of(who.panel)}")
        return True

    steps = [
        Step(0.12 * duration, f"⚡ {who.panel} (a real agent) loses power: kill -9", agent.kill),
        Step(0.15 * duration, f"💾 {who.disk_pc}: disk starts filling up", fill_disk),
        Step(
            0.25 * duration,
            f"📷 {who.camera_panel}: the document camera is unplugged",
            lambda: fleet[who.camera_panel].set_camera(False),
        ),
        Step(0.35 * duration, f"🕵  {who.ram_pc}: a RAM module is taken out of the case", steal_ram),
        Step(0.50 * duration, f"🔌 {who.panel} power back: agent restarts", agent.start),
        Step(
            0.55 * duration,
            f"📷 {who.camera_panel}: the document camera is plugged back",
            lambda: fleet[who.camera_panel].set_camera(True),
        ),
        Step(0.62 * duration, f"🧹 technician cleans the disk of {who.disk_pc}", clean_disk),
        Step(
            0.75 * duration,
            f"🔔 lesson over: {len(who.leavers)} lab PCs shut down cleanly (no ticket)",
            lesson_over,
        ),
    ]
    interrupted = False
    try:
        console.print(f"[bold]campusmon demo[/]: {n_devices} devices, {duration:.0f} s, data in {workdir}")
        server.start()
        assert server.ingestor is not None
        register = server.ingestor.register
        if server.http is not None:
            from campusmon.server.services import Actor, Conflict
            from campusmon.server.services.users import UserService

            try:
                UserService(server.ingestor.db).add(
                    DEMO_USER, DEMO_PASSWORD, "admin", actor=Actor("system:demo"), display_name="演示管理员"
                )
            except Conflict:
                pass  # a kept --data-dir has it already
            console.print(
                f"[bold]web console[/]: {server.http.url}  user [bold]{DEMO_USER}[/] "
                f"password [bold]{DEMO_PASSWORD}[/]"
            )
        sheet = workdir / "assets.csv"
        write_spreadsheet(sheet, names[1:])
        report = Importer(register, actor=f"import:{sheet.name}").run(sheet)
        if report.errors:
            raise RuntimeError(f"the demo spreadsheet has bad rows: {report.errors[:3]}")
        assert server.broker is not None
        agent.enrol(server.broker.users)
        agent.start()
        logins = server.broker.users.add_devices(CAMPUS, names[1:], replace=True)
        for i, name in enumerate(names[1:]):
            dev = SimDevice(
                CAMPUS,
                name,
                "127.0.0.1",
                port,
                interval=INTERVAL,
                seed=i + 1,
                disk_percent=40.0 + (i * 7) % 30,
                username=logins[name].username,
                password=logins[name].password,
            )
            dev.connect()
            fleet[name] = dev
        started = time.monotonic()
        log(
            f"broker on 127.0.0.1:{port}, server up, {report.good} assets imported from {sheet.name}, "
            f"{len(fleet)} simulated devices + 1 real agent online"
        )
        next_report = time.monotonic()
        with Live(
            _view(server, started, duration, events), console=console, refresh_per_second=4, transient=False
        ) as live:
            while (elapsed := time.monotonic() - started) < duration:
                for step in steps:
                    if not step.done and elapsed >= step.at:
                        step.done = True
                        step.run()
                        log(step.text)
                if not filed:
                    filed = file_panel(register)
                if time.monotonic() >= next_report:
                    for dev in fleet.values():
                        dev.report()
                    next_report += INTERVAL
                live.update(_view(server, started, duration, events))
                time.sleep(0.25)
        console.print()
    except KeyboardInterrupt:
        interrupted = True
        console.print("\n[yellow]interrupted: stopping everything[/]")
    finally:
        agent.stop()
        for dev in fleet.values():
            dev.shutdown("demo over")
        time.sleep(0.5)  # let the server store the last statuses
        tickets: list[Ticket] = []
        if server.db is not None:
            _devices, tickets = _snapshot(server)
        server.stop()
    code = 130 if interrupted else _summary(console, cfg, tickets, who, len(names), stolen)
    if temp:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        console.print(
            f"data kept in {workdir} (campusmon tickets list "
            f"with CAMPUSMON_STORAGE__DATA_DIR={workdir / 'server'})"
        )
    return code


def check(
    tickets: list[Ticket], reg: RegisterView, who: Cast, n_devices: int, stolen: dict[str, Any]
) -> list[str]:
    """Everything the demo promises; an empty list when all of it happened (and nothing else)."""
    expected = {
        (who.panel, "device_down"): "resolved",
        (who.disk_pc, "disk_full"): "resolved",
        (who.camera_panel, "peripheral_missing"): "resolved",
        (who.ram_pc, "inventory_changed"): "open",
    }
    problems = []
    seen = Counter((t.device, t.problem) for t in tickets)
    for key, status in expected.items():
        mine = [t for t in tickets if (t.device, t.problem) == key]
        if len(mine) != 1 or mine[0].status != status:
            problems.append(
                f"expected one {status} {key[1]} ticket for {key[0]}, got {[t.status for t in mine]}"
            )
    unexpected = [k for k in seen if k not in expected]
    if unexpected:
        problems.append(f"unexpected tickets: {sorted(unexpected)}")
    problems += [f"ticket #{t.id} ({t.device} {t.problem}) has no room" for t in tickets if not t.room]
    theft = next((t for t in tickets if t.problem == "inventory_changed"), None)
    serial = str(stolen.get("serial", "?"))
    if theft is not None and ("memory_module removed" not in theft.summary or serial not in theft.summary):
        problems.append(f"the inventory ticket does not name the stolen module {serial}: {theft.summary!r}")
    got = [(d, c, what) for d, c, what, _item in reg.changes]
    if got != [(who.ram_pc, "memory_module", "removed")]:
        problems.append(f"expected one component change (RAM of {who.ram_pc}), the register has {got}")
    if reg.assets != n_devices or reg.per_room.get("(no room)", 0):
        problems.append(f"expected {n_devices} assets all in rooms, the register has {dict(reg.per_room)}")
    return problems


def _summary(
    console: Console,
    cfg: ServerConfig,
    tickets: list[Ticket],
    who: Cast,
    n_devices: int,
    stolen: dict[str, Any],
) -> int:
    console.rule("devices at the end")
    env = dict(os.environ, CAMPUSMON_STORAGE__DATA_DIR=str(cfg.storage.data_dir))
    # what a technician would type: the CLI itself, in its own process (nothing imports the CLI)
    subprocess.run([sys.executable, "-m", "campusmon", "devices"], env=env, check=False)
    console.rule("tickets")
    cli = [sys.executable, "-m", "campusmon", "tickets"]
    subprocess.run([*cli, "list"], env=env, check=False)
    for t in tickets:
        subprocess.run([*cli, "show", str(t.id)], env=env, check=False)
    db = Database(cfg.storage.db_url)
    reg = register_view(db)
    with db.session() as s:
        tag = s.scalars(select(Asset.asset_tag).where(Asset.link_device == who.ram_pc)).first()
    db.dispose()
    console.rule("asset register")
    rooms = Table(title=f"{reg.assets} assets by room (spreadsheet rows claimed by the agents' serials)")
    rooms.add_column("room")
    rooms.add_column("assets", justify="right")
    for room, n in sorted(reg.per_room.items()):
        rooms.add_row(room, str(n))
    console.print(rooms)
    if tag:
        console.print(f"[bold]campusmon assets history {tag}[/] ({who.ram_pc}):")
        subprocess.run([sys.executable, "-m", "campusmon", "assets", "history", tag], env=env, check=False)
    problems = check(tickets, reg, who, n_devices, stolen)
    if problems:
        console.print("[bold red]demo check failed[/]:\n  " + "\n  ".join(problems))
        return 1
    console.print(
        "[bold green]demo ok[/]: the power cut, the full disk and the unplugged document camera each "
        "opened one ticket, resolved automatically on recovery; the stolen RAM module is in the asset "
        "history and in one inventory ticket (left open for a technician); clean shutdowns opened none."
    )
    return 0
