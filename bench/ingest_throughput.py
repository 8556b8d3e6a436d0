"""Server ingest throughput: simulated devices flood a real Mosquitto; a real `campusmon server run`
process validates, deduplicates and stores every report. Prints reports/s, server CPU and RSS.

    .venv/bin/python -m bench.ingest_throughput --devices 143 --reports 40

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

from campusmon.contract import Metrics, Scalar, Status, encode, topic
from campusmon.demo.scenario import free_port
from campusmon.server.broker_auth import BrokerUsers, Login


def report(device: str, seq: int) -> bytes:
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


def stored(db: Path) -> int:
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT COUNT(*) FROM reports").fetchone()[0])
    except sqlite3.OperationalError:
        return 0


def publish_all(port: int, devices: list[str], reports: int, publishers: int, login: Login) -> float:
    """Each publisher thread owns a slice of the devices; returns seconds spent publishing."""

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
                last = c.publish(topic("bench", name, "metrics"), report(name, seq), qos=1)
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
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="campusmon-bench-"))
    port = free_port()
    env = dict(os.environ, CAMPUSMON_BROKER__PORT=str(port), CAMPUSMON_STORAGE__DATA_DIR=str(work))
    server_log = (work / "server.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "campusmon", "server", "run"], env=env, stdout=server_log, stderr=server_log
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
        cpu0 = proc.cpu_times()
        t0 = time.perf_counter()
        devices = [f"pc-{i:04d}" for i in range(args.devices)]
        # the managed broker admits no anonymous client: publish as campus `bench`'s probe runner
        # (a user that may write every device topic of the campus), made as a technician would
        login = BrokerUsers(work / "broker").probe_login("bench")
        pub_s = publish_all(port, devices, args.reports, args.publishers, login)
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
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(30)
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system)
    rate = total / wall
    print(f"devices={args.devices} reports/device={args.reports} total={total}")
    print(f"publish wall      {pub_s:8.2f} s")
    print(f"stored wall       {wall:8.2f} s   ({rate:,.0f} reports/s end to end)")
    print(f"server CPU        {cpu:8.2f} s   ({cpu / total * 1e3:.2f} ms per report)")
    print(f"server peak RSS   {peak_rss / 2**20:8.1f} MiB")
    print(f"schools of 143 devices at 30 s one server process keeps up with: {rate / (143 / 30):,.0f}")


if __name__ == "__main__":
    main()
