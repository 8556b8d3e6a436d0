"""Agent footprint, side by side with Prometheus node_exporter and Zabbix agent 2, in one run.

Starts a private Mosquitto on a free port, `campusmon agent run` (10 s interval), node_exporter (scraped
every 10 s by this script) and zabbix_agent2 (polled every 10 s with ten passive items), all on
127.0.0.1; samples each process's RSS and CPU time from /proc every second from launch; then prints
peak/average RSS, CPU seconds and CPU % per process, the ratios against node_exporter, and how long one
agent report takes to collect and how big it is on the wire.

The same rule for all three: RSS (VmRSS) is sampled from launch, so the peak includes start-up. CPU
seconds (utime+stime) are counted over the window, which opens once every tool is in service: the
agent's first report has reached the bench's subscriber (it is connected and publishing), node_exporter
has answered a scrape and zabbix_agent2 a poll. Start-up CPU (Python's interpreter start and imports
for the agent, ~0.1 s once per boot) is printed separately, never hidden.

    python bench/agent_footprint.py [--duration 130] [--interval 10]

Needs: mosquitto, prometheus-node-exporter, zabbix-agent2 (Debian packages). Linux only (/proc).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import time
import urllib.request
import zlib
from dataclasses import dataclass, field
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
ZABBIX_ITEMS = (
    "system.cpu.util",
    "system.cpu.load[all,avg1]",
    "vm.memory.size[total]",
    "vm.memory.size[available]",
    "vfs.fs.size[/,pused]",
    "net.if.in[lo]",
    "net.if.out[lo]",
    "system.uptime",
    "proc.num",
    "system.users.num",
)


def free_port(low: int = 0, high: int = 0) -> int:
    """A free TCP port on 127.0.0.1 (zabbix_agent2 only takes 1024..32767)."""
    import random

    for _ in range(200):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", random.randint(low, high) if high else 0))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port")


def wait_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout:g} s")


def find(*names: str) -> str:
    for name in names:
        path = shutil.which(name) or next(
            (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.path.exists(p)), None
        )
        if path:
            return path
    raise SystemExit(f"missing: {' or '.join(names)} (apt-get install the package)")


@dataclass
class Watched:
    name: str
    proc: subprocess.Popen[bytes]
    rss_kib: list[int] = field(default_factory=list)
    cpu_seconds: float = 0.0
    #: CPU seconds when the window opened (every tool in service)
    cpu_at_open: float = 0.0

    def sample(self) -> None:
        pid = self.proc.pid
        try:
            status = Path(f"/proc/{pid}/status").read_text()
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return
        for line in status.splitlines():
            if line.startswith("VmRSS:"):
                self.rss_kib.append(int(line.split()[1]))
        fields = stat.rsplit(")", 1)[1].split()
        self.cpu_seconds = (int(fields[11]) + int(fields[12])) / TICKS


def zabbix_get(port: int, key: str) -> bytes:
    data = key.encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(b"ZBXD\x01" + struct.pack("<Q", len(data)) + data)
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)[13:]


def count_reports(port: int) -> list[int]:
    """Subscribe to the agent's reports: a footprint means nothing if the reports do not arrive."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received: list[int] = []
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-counter")
    client.on_connect = lambda c, *a: c.subscribe("campusmon/bench/bench-pc/metrics", qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, msg: received.append(len(msg.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not subscribed.wait(15):  # before the agent starts: its first report must not slip by
        raise SystemExit("the bench cannot subscribe to the broker")
    return received


def report_cost(samples: int = 50) -> tuple[float, float, int, int]:
    """(median ms, max ms, raw bytes, zlib bytes) of one full agent report, collected in this process."""
    import psutil

    from campusmon.agent import wire
    from campusmon.agent.config import AgentConfig
    from campusmon.agent.report import build_report
    from campusmon.agent.runner import make_collectors

    collectors = make_collectors(AgentConfig().agent.collectors, psutil)
    build_report(collectors, campus="main", device="bench", seq=0, interval=10, ts=time.time())
    time.sleep(1.0)
    times = []
    raw = b""
    for seq in range(samples):
        t0 = time.perf_counter()
        report = build_report(collectors, campus="main", device="bench", seq=seq, interval=10, ts=time.time())
        raw = wire.encode(report)
        times.append((time.perf_counter() - t0) * 1000)
        time.sleep(0.05)
    return statistics.median(times), max(times), len(raw), len(zlib.compress(raw, 6))


def byte_compile_agent() -> None:
    """Write the agent's .pyc files, as `pip install` does: the agent is measured as installed.

    With PYTHONDONTWRITEBYTECODE set (or a read-only checkout) an editable source tree is compiled
    again at every start, which costs the agent ~1 MiB of peak RSS and ~0.05 s of CPU that no installed
    agent pays. compileall skips symlinked folders, so campusmon/agent is compiled through its target.
    """
    import compileall

    import campusmon
    import campusmon.agent

    for folder in {Path(campusmon.__file__).parent, Path(campusmon.agent.__file__).resolve().parent}:
        compileall.compile_dir(str(folder), quiet=1)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=130.0, help="seconds of side-by-side running")
    ap.add_argument("--interval", type=int, default=10, help="agent interval and scrape/poll period")
    args = ap.parse_args()

    byte_compile_agent()
    work = Path(tempfile.mkdtemp(prefix="campusmon-bench-"))
    os.chmod(work, 0o755)
    mq_port, ne_port, zb_port = free_port(), free_port(), free_port(20000, 32000)
    user = "root" if os.geteuid() == 0 else ""
    (work / "mosquitto.conf").write_text(
        f"listener {mq_port} 127.0.0.1\nallow_anonymous true\n" + (f"user {user}\n" if user else "")
    )
    (work / "agent.toml").write_text(
        f'[agent]\ncampus = "bench"\ndevice = "bench-pc"\ninterval = {args.interval}\n'
        f'state_dir = "{work / "agent-state"}"\ncompress = true\nlog_level = "warning"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mq_port}\n'
    )
    (work / "zabbix_agent2.conf").write_text(
        f"ListenIP=127.0.0.1\nListenPort={zb_port}\nServer=127.0.0.1\nHostname=bench-pc\n"
        f"LogType=file\nLogFile={work / 'zabbix_agent2.log'}\nPidFile={work / 'zabbix_agent2.pid'}\n"
        f"ControlSocket={work / 'zabbix_agent2.sock'}\n"
    )
    procs: list[Watched] = []
    mosquitto = subprocess.Popen(
        [find("mosquitto"), "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(mq_port)
        reports = count_reports(mq_port)
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        agent_cmd = [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(work / "agent.toml")]
        procs.append(Watched("campusmon agent", subprocess.Popen(agent_cmd, **quiet)))  # type: ignore[call-overload]
        ne = [find("prometheus-node-exporter", "node_exporter"), f"--web.listen-address=127.0.0.1:{ne_port}"]
        procs.append(Watched("node_exporter", subprocess.Popen(ne, **quiet)))  # type: ignore[call-overload]
        zb = [find("zabbix_agent2"), "-c", str(work / "zabbix_agent2.conf"), "-f"]
        procs.append(Watched("zabbix_agent2", subprocess.Popen(zb, **quiet)))  # type: ignore[call-overload]
        launched = time.monotonic()

        def sample_all() -> None:
            for w in procs:
                if w.proc.poll() is not None:
                    raise SystemExit(f"{w.name} exited with {w.proc.returncode}")
                w.sample()

        # start-up: sampled like the rest, until every tool has served once
        while time.monotonic() - launched < 60:
            sample_all()
            try:
                wait_port(ne_port, timeout=0.5)
                wait_port(zb_port, timeout=0.5)
                with urllib.request.urlopen(f"http://127.0.0.1:{ne_port}/metrics", timeout=10) as resp:
                    resp.read()
                zabbix_get(zb_port, ZABBIX_ITEMS[0])
            except (TimeoutError, OSError):
                continue
            if reports:
                break
            time.sleep(0.2)
        else:
            log = work / "zabbix_agent2.log"
            raise SystemExit(
                f"not in service after 60 s (agent reports: {len(reports)}); "
                f"zabbix log: {log.read_text() if log.exists() else ''}"
            )
        sample_all()
        for w in procs:
            w.cpu_at_open = w.cpu_seconds
        reports_at_open = len(reports)
        start = time.monotonic()
        next_poll = start
        scraped = polled = 0
        while time.monotonic() - start < args.duration:
            sample_all()
            if time.monotonic() >= next_poll:
                with urllib.request.urlopen(f"http://127.0.0.1:{ne_port}/metrics", timeout=10) as resp:
                    scraped += len(resp.read()) > 0
                for key in ZABBIX_ITEMS:
                    polled += len(zabbix_get(zb_port, key)) > 0
                next_poll += args.interval
            time.sleep(1.0)
        end = time.monotonic()
        wall = end - start
        reports_in_window = len(reports) - reports_at_open
        sample_all()
    finally:
        for w in procs:
            if w.proc.poll() is None:
                w.proc.send_signal(signal.SIGTERM)
                try:
                    w.proc.wait(10)
                except subprocess.TimeoutExpired:
                    w.proc.kill()
        mosquitto.terminate()
        mosquitto.wait(10)
    median_ms, max_ms, raw_bytes, zlib_bytes = report_cost()
    ref = next(w for w in procs if w.name == "node_exporter")

    def window(w: Watched) -> float:
        return w.cpu_seconds - w.cpu_at_open

    print(
        f"window {wall:.0f} s, agent interval / scrape / poll every {args.interval} s "
        f"({reports_in_window} agent reports received, {scraped} node_exporter scrapes, "
        f"{polled} zabbix items polled); start-up took {start - launched:.1f} s"
    )
    print(
        f"{'process':16} {'peak RSS MiB':>12} {'avg RSS MiB':>11} {'CPU s':>6} {'CPU %':>6} "
        f"{'start-up CPU s':>14} {'RSS/node_exp':>12} {'CPU/node_exp':>12}"
    )
    for w in procs:
        peak = max(w.rss_kib) / 1024
        avg = statistics.mean(w.rss_kib) / 1024
        print(
            f"{w.name:16} {peak:12.1f} {avg:11.1f} {window(w):6.2f} {100 * window(w) / wall:6.2f} "
            f"{w.cpu_at_open:14.2f} {peak / (max(ref.rss_kib) / 1024):12.2f} "
            f"{window(w) / max(window(ref), 0.01):12.2f}"
        )
    print(
        "(peak/avg RSS: every second from launch; CPU s: over the window, which opens once all three are "
        "in service; start-up CPU s: before that)"
    )
    print(
        f"one agent report: median {median_ms:.1f} ms, max {max_ms:.1f} ms to collect; "
        f"{raw_bytes} bytes JSON, {zlib_bytes} bytes zlib (sent compressed)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
