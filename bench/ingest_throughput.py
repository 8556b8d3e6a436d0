"""Server ingest throughput: simulated devices flood a real Mosquitto; a real `campusmon server run`
process validates, deduplicates and stores every report. Prints reports/s, server CPU and RSS.

    .venv/bin/python -m bench.ingest_throughput --devices 143 --reports 40
    .venv/bin/python -m bench.ingest_throughput --backend influx     # + a real VictoriaMetrics
    .venv/bin/python -m bench.ingest_throughput --server-python ../other/.venv/bin/python   # A/B

Reports are shaped like the real agent's (bench/agent_report.py: 65 samples, ~2.7 KB); `--shape small`
sends the older 18-sample report. With `--backend influx` the server also spools every report and
writes it to VictoriaMetrics through influxdb-client; the bench waits until the spool is empty too.

A school (143 devices, one report every 30 s) needs ~4.8 reports/s; the figure printed says how many
schools one server process keeps up with on this machine.
"""

from __future__ import annotations

import argparse
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

from bench.agent_report import AgentLikeDevice
from campusmon.contract import Metrics, Scalar, Status, encode, topic
from campusmon.demo.scenario import free_port
from campusmon.server.broker_auth import BrokerUsers, Login


def small_report(device: str, seq: int) -> bytes:
    cores: list[dict[str, Scalar]] = [{"core": str(i), "cpu_core_usage_percent": 10.0 + i} for i in range(4)]
    return encode(
        Metrics(
            campus="bench",
            device=device,
            ts=time.time(),
            seq=seq,
            interval=30,
            metrics={
                "cpu": [
                    {"cpu_usage_percent": 12.5, "cpu_count": 4, "cpu_load1": 0.4},
                    *cores,
                ],
                "memory": {
                    "memory_total_bytes": 8 << 30,
                    "memory_available_bytes": 4 << 30,
                    "memory_used_percent": 50.0,
                    "swap_used_percent": 0.0,
                },
                "disk": [
                    {
                        "mount": "C:",
                        "disk_total_bytes": 256 << 30,
                        "disk_used_bytes": 100 << 30,
                        "disk_used_percent": 39.1,
                    }
                ],
                "network": [
                    {
                        "nic": "eth0",
                        "net_link_up": 1,
                        "net_rx_bytes_per_second": 1234.0,
                        "net_tx_bytes_per_second": 567.0,
                    }
                ],
                "uptime": {"uptime_seconds": 3600},
            },
        )
    )


def stored(db: Path, table: str = "reports") -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])
    except sqlite3.OperationalError:
        return -1


def payloads_for(devices: list[str], reports: int, shape: str) -> dict[str, list[bytes]]:
    """Every device's reports, built before the clock starts (the same for every run). Timestamps are a
    second apart from now on: fresh reports (rules evaluated), each with its own second."""
    now = time.time()
    out: dict[str, list[bytes]] = {}
    for name in devices:
        agent = AgentLikeDevice("bench", name)
        out[name] = [
            encode(agent.report(now + seq)) if shape == "agent" else small_report(name, seq)
            for seq in range(reports)
        ]
    return out


def publish_all(port: int, payloads: dict[str, list[bytes]], publishers: int, login: Login) -> float:
    """Each publisher thread owns a slice of the devices; returns seconds spent publishing."""

    devices = list(payloads)
    reports = len(payloads[devices[0]])

    def work(names: list[str]) -> None:
        c = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
        c.username_pw_set(login.username, login.password)
        c.max_inflight_messages_set(100)
        c.connect("127.0.0.1", port)
        c.loop_start()
        for name in names:
            c.publish(
                topic("bench", name, "status"),
                encode(Status(campus="bench", device=name, ts=time.time(), state="online")),
                qos=1,
                retain=True,
            )
        last = None
        for seq in range(reports):
            for name in names:
                last = c.publish(topic("bench", name, "metrics"), payloads[name][seq], qos=1)
        if last is not None:
            last.wait_for_publish(120)
        c.disconnect()
        c.loop_stop()

    start = time.perf_counter()
    threads = [threading.Thread(target=work, args=(devices[i::publishers],)) for i in range(publishers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--devices", type=int, default=143)
    ap.add_argument("--reports", type=int, default=40, help="reports per device")
    ap.add_argument("--publishers", type=int, default=4)
    ap.add_argument(
        "--shape", choices=("agent", "small"), default="agent", help="65-sample or 18-sample reports"
    )
    ap.add_argument("--backend", choices=("sqlite", "influx"), default="sqlite")
    ap.add_argument(
        "--server-python",
        type=Path,
        default=Path(sys.executable),
        help="the interpreter (of another checkout's virtualenv) that runs the server: A/B against it",
    )
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="campusmon-bench-"))
    port = free_port()
    env = dict(os.environ, CAMPUSMON_BROKER__PORT=str(port), CAMPUSMON_STORAGE__DATA_DIR=str(work))
    vm = None
    if args.backend == "influx":
        from tests.support.victoriametrics import VictoriaMetricsProcess

        vm = VictoriaMetricsProcess(work / "vm").start()
        env.update(CAMPUSMON_STORAGE__METRICS_BACKEND="influx", CAMPUSMON_METRICS__INFLUX__URL=vm.url)
    server_log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [str(args.server_python), "-m", "campusmon", "server", "run"],
        env=env,
        stdout=server_log,
        stderr=server_log,
    )
    total = args.devices * args.reports
    try:
        proc = psutil.Process(server.pid)
        deadline = time.monotonic() + 30
        while not (work / "metrics.db").exists():
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.1)
        time.sleep(1.0)
        devices = [f"pc-{i:04d}" for i in range(args.devices)]
        payloads = payloads_for(devices, args.reports, args.shape)
        size = sum(len(p) for ps in payloads.values() for p in ps) / total
        # the managed broker admits no anonymous client: publish as campus `bench`'s probe runner
        # (a user that may write every device topic of the campus), made as a technician would
        login = BrokerUsers(work / "broker").probe_login("bench")
        cpu0 = proc.cpu_times()
        t0 = time.perf_counter()
        pub_s = publish_all(port, payloads, args.publishers, login)
        peak_rss = 0
        deadline = time.monotonic() + 600
        while (n := stored(work / "metrics.db")) < total:
            peak_rss = max(peak_rss, proc.memory_info().rss)
            if time.monotonic() > deadline:
                raise SystemExit(f"only {n} of {total} reports stored after 600 s")
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        cpu1 = proc.cpu_times()
        peak_rss = max(peak_rss, proc.memory_info().rss)
        drained = None
        if vm is not None:
            while stored(work / "metrics.db", "spool") != 0:
                peak_rss = max(peak_rss, proc.memory_info().rss)
                if time.monotonic() > deadline:
                    raise SystemExit("the spool did not drain in 600 s")
                time.sleep(0.05)
            drained = time.perf_counter() - t0
            cpu2 = proc.cpu_times()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
        if vm is not None:
            vm.stop()
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    rate = total / wall
    print(f"devices={args.devices} reports/device={args.reports} total={total} shape={args.shape}")
    print(f"backend {args.backend}, {size:,.0f} bytes per report")
    print(f"publish wall      {pub_s:8.2f} s")
    print(f"stored wall       {wall:8.2f} s   ({rate:,.0f} reports/s end to end)")
    print(f"server CPU        {cpu:8.2f} s   ({cpu / total * 1e3:.2f} ms per report)")
    if drained is not None:
        cpu_all = (cpu2.user - cpu0.user) + (cpu2.system - cpu0.system)
        print(f"in VictoriaMetrics{drained:8.2f} s   ({total / drained:,.0f} reports/s end to end)")
        print(f"server CPU, writes included {cpu_all:8.2f} s   ({cpu_all / total * 1e3:.2f} ms per report)")
    print(f"server peak RSS   {peak_rss / 2**20:8.1f} MiB")
    print(f"schools of 143 devices at 30 s one server process keeps up with: {rate / (143 / 30):,.0f}")


if __name__ == "__main__":
    main()
