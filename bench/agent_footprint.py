"""Agent footprint, plain MQTT and TLS, side by side with node_exporter and Zabbix agent 2, in one run.

Starts a private Mosquitto on free ports of 127.0.0.1 with two listeners: plain (anonymous) and TLS
with a CA, a broker certificate and a password file this script generates, as the Ansible roles deploy
it (`campusmon_broker` makes an RSA-3072 CA; agents get `tls_ca`, a username and a password). Then, at
the same time: `campusmon agent run` twice — one agent over plain MQTT, one over TLS (10 s interval) —
node_exporter (scraped every 10 s by this script) and zabbix_agent2 (polled every 10 s with ten passive
items); samples each process's RSS and CPU time from /proc every second from launch; then prints peak
/average RSS, CPU seconds and CPU % per process, the ratios against node_exporter, how the agents'
resident memory splits (OpenSSL's libraries, other files, anonymous memory), and how long one agent
report takes to collect and how big it is on the wire.

The agents run as deployed: from a virtualenv holding `pip install <this checkout>[agent]` and nothing
else (the roles do the same), made in a temporary directory unless `--python` names the interpreter of
such a virtualenv. A development virtualenv is not the same thing: its extra packages change what the
agent loads (PySocks, for one, makes paho look up proxies at every connect).

The same rule for all: RSS (VmRSS) is sampled from launch, so the peak includes start-up. CPU seconds
(utime+stime) are counted over the window, which opens once every tool is in service: each agent's
first report has reached the bench's subscriber (it is connected and publishing), node_exporter has
answered a scrape and zabbix_agent2 a poll. Start-up CPU (Python's interpreter start and imports for
the agent, ~0.1 s once per boot; the TLS handshake) is printed separately, never hidden.

    python bench/agent_footprint.py [--duration 130] [--interval 10] [--python VENV/bin/python]

Needs: mosquitto, mosquitto_passwd, openssl, prometheus-node-exporter, zabbix-agent2 (Debian packages).
Linux only (/proc).
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
from typing import BinaryIO

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


AGENTS = {"campusmon agent": "bench-pc", "campusmon agent TLS": "bench-pc-tls"}


def count_reports(port: int) -> dict[str, list[int]]:
    """Subscribe to the agents' reports: a footprint means nothing if the reports do not arrive."""
    import threading

    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    received: dict[str, list[int]] = {device: [] for device in AGENTS.values()}
    subscribed = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="bench-counter")
    client.on_connect = lambda c, *a: c.subscribe("campusmon/bench/+/metrics", qos=1)
    client.on_subscribe = lambda *a: subscribed.set()
    client.on_message = lambda c, u, msg: received[msg.topic.split("/")[2]].append(len(msg.payload))
    client.connect("127.0.0.1", port)
    client.loop_start()
    if not subscribed.wait(15):  # before the agents start: their first reports must not slip by
        raise SystemExit("the bench cannot subscribe to the broker")
    return received


def openssl(*args: str, cwd: Path) -> None:
    subprocess.run([find("openssl"), *args], cwd=cwd, check=True, capture_output=True, timeout=120)


def make_pki(d: Path, san: str = "IP:127.0.0.1") -> None:
    """A CA and a broker certificate for 127.0.0.1 (`san`), as the campusmon_broker role makes them."""
    openssl("req", "-x509", "-new", "-newkey", "rsa:3072", "-nodes", "-sha256", "-days", "2",
            "-subj", "/CN=campusmon bench CA", "-keyout", "ca.key", "-out", "ca.crt", cwd=d)  # fmt: skip
    (d / "san.cnf").write_text(f"subjectAltName={san}\n", encoding="ascii")
    openssl("req", "-new", "-newkey", "rsa:3072", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr", cwd=d)  # fmt: skip
    openssl("x509", "-req", "-sha256", "-in", "server.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "san.cnf", "-out", "server.crt", cwd=d)  # fmt: skip


def agent_python(work: Path) -> str:
    """A virtualenv with `pip install <checkout>[agent]` only, as the Ansible role installs the agent.

    pip byte-compiles what it installs: the agent is measured as installed. (A source checkout under
    PYTHONDONTWRITEBYTECODE is compiled again at every start: ~1 MiB more peak RSS.)
    """
    venv = work / "agent-venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=300)
    python = str(venv / "bin" / "python")
    checkout = Path(__file__).resolve().parent.parent
    pip = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", f"{checkout}[agent]"],
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    if pip.returncode != 0:
        raise SystemExit(f"cannot install the agent into {venv}:\n{pip.stderr[-3000:]}")
    return python


def memory_split(pid: int) -> tuple[float, float, float]:
    """(OpenSSL libraries, other files, anonymous) resident MiB of a running process, from smaps."""
    ssl = files = anon = 0
    name = ""
    try:
        lines = Path(f"/proc/{pid}/smaps").read_text().splitlines()
    except OSError:
        return 0.0, 0.0, 0.0
    for line in lines:
        head = line.split()
        if head and "-" in head[0] and ":" not in head[0]:
            name = head[5] if len(head) > 5 else ""
        elif head and head[0] == "Rss:":
            kib = int(head[1])
            if "/libssl.so" in name or "/libcrypto.so" in name:
                ssl += kib
            elif name.startswith("/"):
                files += kib
            else:
                anon += kib
    return ssl / 1024, files / 1024, anon / 1024


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=130.0, help="seconds of side-by-side running")
    ap.add_argument("--interval", type=int, default=10, help="agent interval and scrape/poll period")
    ap.add_argument(
        "--python",
        help="the python of a virtualenv with campusmon[agent] installed (default: one is made for this run)",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="campusmon-bench-"))
    os.chmod(work, 0o755)
    python = args.python or agent_python(work)
    pki = work / "pki"
    pki.mkdir()
    make_pki(pki)
    subprocess.run(
        [find("mosquitto_passwd"), "-b", "-c", str(pki / "passwd"), AGENTS["campusmon agent TLS"], "s3cret"],
        check=True,
        timeout=30,
    )
    mq_port, tls_port, ne_port = free_port(), free_port(), free_port()
    zb_port = free_port(20000, 32000)
    user = "root" if os.geteuid() == 0 else ""
    (work / "mosquitto.conf").write_text(
        "per_listener_settings true\n"
        + (f"user {user}\n" if user else "")
        + f"listener {mq_port} 127.0.0.1\nallow_anonymous true\n"
        f"listener {tls_port} 127.0.0.1\npassword_file {pki / 'passwd'}\n"
        f"cafile {pki / 'ca.crt'}\ncertfile {pki / 'server.crt'}\nkeyfile {pki / 'server.key'}\n"
    )
    for name, device in AGENTS.items():
        tls = name.endswith("TLS")
        mqtt = (
            f'port = {tls_port}\nusername = "{device}"\npassword = "s3cret"\ntls_ca = "{pki / "ca.crt"}"\n'
            if tls
            else f"port = {mq_port}\n"
        )
        (work / f"{device}.toml").write_text(
            f'[agent]\ncampus = "bench"\ndevice = "{device}"\ninterval = {args.interval}\n'
            f'state_dir = "{work / device}"\ncompress = true\nlog_level = "warning"\n'
            f'[mqtt]\nhost = "127.0.0.1"\n{mqtt}'
        )
    (work / "zabbix_agent2.conf").write_text(
        f"ListenIP=127.0.0.1\nListenPort={zb_port}\nServer=127.0.0.1\nHostname=bench-pc\n"
        f"LogType=file\nLogFile={work / 'zabbix_agent2.log'}\nPidFile={work / 'zabbix_agent2.pid'}\n"
        f"ControlSocket={work / 'zabbix_agent2.sock'}\n"
    )
    procs: list[Watched] = []
    logs: dict[str, BinaryIO] = {}
    splits: dict[str, tuple[float, float, float]] = {}
    mosquitto = subprocess.Popen(
        [find("mosquitto"), "-c", str(work / "mosquitto.conf")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_port(mq_port)
        wait_port(tls_port)
        reports = count_reports(mq_port)
        # the agents' warnings (a refused login, a TLS error) go to a log, shown if one never reports
        for name, device in AGENTS.items():
            logs[name] = (work / f"{device}.log").open("wb")
            agent_cmd = [python, "-m", "campusmon", "agent", "run", "--config", str(work / f"{device}.toml")]
            proc = subprocess.Popen(agent_cmd, stdout=subprocess.DEVNULL, stderr=logs[name], cwd=work)
            procs.append(Watched(name, proc))
        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
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
            if all(reports.values()):
                break
            time.sleep(0.2)
        else:
            silent = [n for n, d in AGENTS.items() if not reports[d]]
            agent_logs = "".join(
                f"\n{n} log: {(work / f'{AGENTS[n]}.log').read_text(errors='replace')[-2000:]}"
                for n in silent
            )
            log = work / "zabbix_agent2.log"
            raise SystemExit(
                f"not in service after 60 s (agents without a report: {silent}); "
                f"zabbix log: {log.read_text() if log.exists() else ''}{agent_logs}"
            )
        sample_all()
        for w in procs:
            w.cpu_at_open = w.cpu_seconds
        reports_at_open = {d: len(r) for d, r in reports.items()}
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
        in_window = {d: len(r) - reports_at_open[d] for d, r in reports.items()}
        sample_all()
        splits = {w.name: memory_split(w.proc.pid) for w in procs if w.name in AGENTS}
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
        for fh in logs.values():
            fh.close()
    median_ms, max_ms, raw_bytes, zlib_bytes = report_cost()
    ref = next(w for w in procs if w.name == "node_exporter")

    def window(w: Watched) -> float:
        return w.cpu_seconds - w.cpu_at_open

    counts = ", ".join(f"{in_window[d]} {n} reports" for n, d in AGENTS.items())
    print(
        f"window {wall:.0f} s, agent interval / scrape / poll every {args.interval} s "
        f"({counts} received, {scraped} node_exporter scrapes, {polled} zabbix items polled); "
        f"start-up took {start - launched:.1f} s"
    )
    print(
        f"{'process':20} {'peak RSS MiB':>12} {'avg RSS MiB':>11} {'CPU s':>6} {'CPU %':>6} "
        f"{'start-up CPU s':>14} {'RSS/node_exp':>12} {'CPU/node_exp':>12}"
    )
    for w in procs:
        peak = max(w.rss_kib) / 1024
        avg = statistics.mean(w.rss_kib) / 1024
        print(
            f"{w.name:20} {peak:12.1f} {avg:11.1f} {window(w):6.2f} {100 * window(w) / wall:6.2f} "
            f"{w.cpu_at_open:14.2f} {peak / (max(ref.rss_kib) / 1024):12.2f} "
            f"{window(w) / max(window(ref), 0.01):12.2f}"
        )
    print(
        "(peak/avg RSS: every second from launch; CPU s: over the window, which opens once all are "
        "in service; start-up CPU s: before that)"
    )
    for name, (ssl_mib, file_mib, anon_mib) in splits.items():
        print(
            f"{name} resident at the end: libssl+libcrypto {ssl_mib:.1f} MiB, other files {file_mib:.1f} MiB "
            f"(libpython, libc, libsqlite3 …), anonymous {anon_mib:.1f} MiB (Python objects, malloc heap)"
        )
    print(
        f"one agent report: median {median_ms:.1f} ms, max {max_ms:.1f} ms to collect; "
        f"{raw_bytes} bytes JSON, {zlib_bytes} bytes zlib (sent compressed)"
    )
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
