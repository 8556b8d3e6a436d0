"""`campusmon demo`: a simulated campus on a managed broker and server, with faults and recovery.

One classroom panel is a real `campusmon agent run` process (killed with SIGKILL: a power cut);
the other devices are simulated MQTT clients that speak the same contract.
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
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.progress_bar import ProgressBar
from rich.table import Table
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from .config import (
    BrokerSettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
    ThresholdRuleSettings,
    default_threshold_rules,
)
from .models import Device, Ticket
from .service import Server
from .simulator import SimDevice

CAMPUS = "main"
INTERVAL = 2


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def room_of(device: str) -> str:
    return device.split("-", 1)[0]


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
        self.config = workdir / f"{device}.toml"
        self.config.write_text(
            f'[agent]\ncampus = "{CAMPUS}"\ndevice = "{device}"\ninterval = {INTERVAL}\n'
            f'state_dir = "{workdir / "agent-state"}"\nlog_level = "warning"\n'
            f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive = 10\n',
            encoding="utf-8",
        )
        self.log = workdir / f"{device}.log"
        self.proc: subprocess.Popen[bytes] | None = None

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


def _snapshot(server: Server) -> tuple[list[Device], list[Ticket]]:
    assert server.db is not None
    with server.db.session() as s:
        devices = list(s.scalars(select(Device).order_by(Device.device)))
        tickets = list(s.scalars(select(Ticket).options(selectinload(Ticket.affected)).order_by(Ticket.id)))
    return devices, tickets


def _view(server: Server, started: float, duration: float, events: list[str]) -> Group:
    devices, tickets = _snapshot(server)
    rooms: dict[str, list[Device]] = {}
    for d in devices:
        rooms.setdefault(room_of(d.device), []).append(d)
    dots = {"online": "[green]●[/]", "shutdown": "[dim]○[/]", "lost": "[bold red]✖[/]"}
    table = Table(title="campus main — live status", expand=True)
    table.add_column("room")
    table.add_column("devices")
    table.add_column("online", justify="right")
    for room, devs in sorted(rooms.items()):
        online = sum(d.state == "online" for d in devs)
        table.add_row(room, " ".join(dots.get(d.state, "?") for d in devs), f"{online}/{len(devs)}")
    tt = Table(title="tickets", expand=True)
    for col in ("#", "status", "device", "problem", "summary"):
        tt.add_column(col)
    for t in tickets:
        color = "bold red" if t.status == "open" else "green"
        tt.add_row(
            str(t.id),
            f"[{color}]{t.status}[/]",
            t.device + (f" {t.subject}" if t.subject else ""),
            t.problem,
            t.summary,
        )
    elapsed = time.monotonic() - started
    counters = server.ingestor.snapshot() if server.ingestor else {}
    bar = ProgressBar(total=duration, completed=min(elapsed, duration))
    stats = (
        f"{elapsed:4.0f}/{duration:.0f} s   reports stored: {counters.get('accepted_metrics', 0)}   "
        f"status changes: {counters.get('accepted_status', 0)}"
    )
    return Group(bar, stats, table, tt, Panel("\n".join(events[-8:]) or "starting…", title="timeline"))


def run_demo(n_devices: int = 20, duration: float = 60.0, data_dir: Path | None = None) -> int:
    """Run the whole demo; returns the exit code (0 when every injected fault was ticketed and resolved)."""
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
    cfg = ServerConfig(
        broker=BrokerSettings(managed=True, port=port),
        storage=StorageSettings(data_dir=workdir / "server"),
        # the demo runs at any wall-clock time: every hour is school hours, so its faults are paged
        schedule=ScheduleSettings(default="always"),
    )
    cfg.rules.thresholds = rules
    server = Server(cfg)
    names = layout(n_devices)
    panel_name = names[0]
    disk_pc = next((n for n in names if n.startswith("lab")), names[-1])
    leavers = [n for n in names if n.startswith("lab") and n != disk_pc][:6]
    fleet: dict[str, SimDevice] = {}
    agent = RealAgent(panel_name, port, workdir)
    events: list[str] = []
    started = time.monotonic()

    def log(text: str) -> None:
        events.append(f"[cyan]{time.monotonic() - started:5.1f}s[/] {text}")

    def fill_disk() -> None:
        fleet[disk_pc].disk_percent = 80.0
        fleet[disk_pc].disk_rate_per_s = 2.5

    def clean_disk() -> None:
        fleet[disk_pc].disk_rate_per_s = 0.0
        fleet[disk_pc].disk_percent = 52.0

    def lesson_over() -> None:
        for n in leavers:
            fleet[n].shutdown("end of lesson")

    steps = [
        Step(0.12 * duration, f"⚡ {panel_name} (a real agent) loses power: kill -9", agent.kill),
        Step(0.15 * duration, f"💾 {disk_pc}: disk starts filling up", fill_disk),
        Step(0.50 * duration, f"🔌 {panel_name} power back: agent restarts", agent.start),
        Step(0.62 * duration, f"🧹 technician cleans the disk of {disk_pc}", clean_disk),
        Step(
            0.75 * duration,
            f"🔔 lesson over: {len(leavers)} lab PCs shut down cleanly (no ticket)",
            lesson_over,
        ),
    ]
    interrupted = False
    try:
        console.print(f"[bold]campusmon demo[/]: {n_devices} devices, {duration:.0f} s, data in {workdir}")
        server.start()
        agent.start()
        for i, name in enumerate(names[1:]):
            dev = SimDevice(
                CAMPUS,
                name,
                "127.0.0.1",
                port,
                interval=INTERVAL,
                seed=i + 1,
                disk_percent=40.0 + (i * 7) % 30,
            )
            dev.connect()
            fleet[name] = dev
        log(f"broker on 127.0.0.1:{port}, server up, {len(fleet)} simulated devices + 1 real agent online")
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
                if time.monotonic() >= next_report:
                    for dev in fleet.values():
                        dev.report()
                    next_report += INTERVAL
                live.update(_view(server, started, duration, events))
                time.sleep(0.25)
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
    code = 130 if interrupted else _summary(console, cfg, tickets, panel_name, disk_pc)
    if temp:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        console.print(
            f"data kept in {workdir} (campusmon tickets list "
            f"with CAMPUSMON_STORAGE__DATA_DIR={workdir / 'server'})"
        )
    return code


def _summary(console: Console, cfg: ServerConfig, tickets: list[Ticket], panel: str, disk_pc: str) -> int:
    from campusmon.cli.tickets_cmd import print_ticket, print_tickets

    from .db import Database
    from .tickets import TicketService

    console.rule("devices at the end")
    env = dict(os.environ, CAMPUSMON_STORAGE__DATA_DIR=str(cfg.storage.data_dir))
    subprocess.run([sys.executable, "-m", "campusmon", "devices"], env=env, check=False)
    console.rule("tickets")
    print_tickets(tickets)
    db = Database(cfg.storage.db_url)
    service = TicketService(db)
    for t in tickets:
        print_ticket(service.get(t.id))
    db.dispose()
    expected = {(panel, "device_down"), (disk_pc, "disk_full")}
    resolved = {(t.device, t.problem) for t in tickets if t.status == "resolved"}
    missing = expected - resolved
    unexpected = [t for t in tickets if (t.device, t.problem) not in expected]
    if missing or unexpected:
        console.print(
            f"[bold red]demo check failed[/]: missing {sorted(missing)}, unexpected "
            f"{[(t.device, t.problem) for t in unexpected]}"
        )
        return 1
    console.print(
        "[bold green]demo ok[/]: the power cut and the full disk each opened one ticket, "
        "and both were resolved automatically on recovery; clean shutdowns opened none."
    )
    return 0
