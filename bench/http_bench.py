"""The console under a school-district load: 10,000 assets, 143 live devices, 5,000 tickets.

    .venv/bin/python -m bench.http_bench [--requests 200]

p50/p95 of the overview, the ticket list, an asset search, a device page, the inspection list and one
inspection's phone page, each as a logged-in browser asks for it from the real server (uvicorn in its
thread, SQLite), sequentially over one keep-alive connection; a static file from the same server is the
floor. Target: every page p95 < 150 ms.
"""

from __future__ import annotations

import argparse
import csv
import http.client
import random
import re
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
from sqlalchemy import insert, update

from campusmon.demo.simulator import SimDevice
from campusmon.server.config import HttpSettings, ScheduleSettings, ServerConfig, StorageSettings
from campusmon.server.db import Database
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.models import Device, Ticket, TicketHistory
from campusmon.server.register.service import RegisterService
from campusmon.server.register.spreadsheet import Importer
from campusmon.server.services import Actor
from campusmon.server.web.app import create_app
from campusmon.server.web.context import WebContext
from campusmon.server.web.runner import HttpServer

N_ASSETS, N_DEVICES, N_TICKETS = 10_000, 143, 5_000
PASSWORD = "bench password 1"


def fill(db: Database, metrics: SqliteMetricStore, work: Path) -> None:
    rng = random.Random(7)
    sheet = work / "assets.csv"
    with sheet.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f)
        w.writerow(["资产编号", "名称", "类型", "校区", "楼栋", "房间", "序列号", "品牌", "型号"])
        for i in range(N_ASSETS):
            room = f"{100 + i // 40 % 60}"
            w.writerow([f"ZX-{i:05d}", f"设备{i}", rng.choice(["电脑", "交互平板", "投影仪"]), "main",
                        f"楼{i % 5}", room, f"SN{i:08d}", "联想", "M720t"])  # fmt: skip
    Importer(RegisterService(db), actor="import:bench").run(sheet)
    now = datetime.now(UTC)
    with db.session() as s:
        s.execute(
            insert(Device),
            [
                {
                    "campus": "main",
                    "device": f"dev{i:03d}",
                    "state": "online" if i % 10 else "lost",
                    "state_since": now,
                    "first_seen": now,
                    "last_seen": now,
                    "interval_s": 30,
                }
                for i in range(N_DEVICES)
            ],  # fmt: skip
        )
        from campusmon.server.register.models import Asset

        for i in range(N_DEVICES):  # link each device to an asset (its room)
            s.execute(
                update(Asset)
                .where(Asset.asset_tag == f"ZX-{i * 13:05d}")
                .values(link_campus="main", link_device=f"dev{i:03d}")
            )
        statuses = ["open", "acknowledged", "in_progress", "resolved", "closed"]
        for i in range(N_TICKETS):
            at = now - timedelta(minutes=i)
            st = statuses[i % 5] if i > 200 else "resolved"
            t = Ticket(
                campus="main",
                device=f"dev{i % N_DEVICES:03d}",
                problem=f"p{i}",
                subject="",
                severity=rng.choice(["info", "warning", "critical"]),
                status=st,
                summary=f"故障 {i}",
                opened_at=at,
                updated_at=at,
                room="",
                opened_by="campusmon",
                flapping=False,
            )
            t.history.append(
                TicketHistory(
                    at=at, actor="campusmon", action="open", from_status=None, to_status="open", note=""
                )
            )
            s.add(t)
    import msgspec

    dev = SimDevice("main", "dev005", "127.0.0.1", 1, interval=30)
    t0 = time.time() - 86400
    for k in range(2880):  # a day of 30 s reports for the device page's charts
        m = dev.metrics(t0 + 30 * k)
        metrics.record(msgspec.structs.replace(m, seq=k + 1))


class Browserish:
    """One keep-alive connection with TCP_NODELAY, as browsers use (httpx's sync client waits on
    delayed ACKs: ~40 ms a request on loopback, which would measure the client, not the server)."""

    def __init__(self, base: str, cookie: str) -> None:
        u = urlsplit(base)
        self.conn = http.client.HTTPConnection(u.hostname or "127.0.0.1", u.port, timeout=30)
        self.conn.connect()
        assert self.conn.sock is not None
        self.conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.cookie = cookie

    def get(self, url: str) -> tuple[int, bytes]:
        self.conn.request("GET", quote(url, safe="/?=&"), headers={"Cookie": self.cookie})
        r = self.conn.getresponse()
        return r.status, r.read()


def measure(client: Browserish, url: str, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        status, body = client.get(url)
        times.append((time.perf_counter() - t) * 1000)
        assert status == 200, (url, status, body[:200])
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95) - 1]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=200)
    args = ap.parse_args()
    n = max(20, min(args.requests, 5000))
    work = Path(tempfile.mkdtemp(prefix="campusmon-httpbench-"))
    cfg = ServerConfig(
        storage=StorageSettings(data_dir=work),
        schedule=ScheduleSettings(default="always"),
        http=HttpSettings(enabled=True, port=0),
    )
    db = Database(cfg.storage.db_url)
    metrics = SqliteMetricStore(cfg.storage.metrics_path)
    t = time.perf_counter()
    fill(db, metrics, work)
    print(
        f"filled in {time.perf_counter() - t:.1f} s: "
        f"{N_ASSETS} assets, {N_DEVICES} devices, {N_TICKETS} tickets"
    )
    ctx = WebContext(cfg, db, metrics)
    ctx.users.add("bench", PASSWORD, "admin", actor=Actor("cli:bench"))
    # a round in progress in the room of the device whose page is timed (its panels and PCs)
    inspection = ctx.inspections.start(actor="user:bench", room="main/楼0/100", plan="classroom_multimedia")
    http = HttpServer(create_app(ctx), cfg.http)
    http.start()
    try:
        with httpx.Client(base_url=http.url, timeout=30) as c:
            page = c.get("/login").text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
            c.post("/login", data={"username": "bench", "password": PASSWORD, "csrf_token": token})
            cookie = "; ".join(f"{k}={v}" for k, v in c.cookies.items())
            b = Browserish(http.url, cookie)
            cases = [
                ("static file (floor)", "/static/app.css"),
                ("overview", "/"),
                ("overview tiles (htmx poll)", "/fragments/overview"),
                ("ticket list", "/tickets"),
                ("asset search", "/assets?q=设备12"),
                ("device page", "/devices/main/dev005"),
                ("inspection list", "/inspections"),
                (f"inspection ({len(inspection.items)} items)", f"/inspections/{inspection.id}"),
            ]
            for _name, url in cases:  # warm up
                measure(b, url, 5)
            print(f"{'page':30} {'p50 ms':>8} {'p95 ms':>8}   ({n} requests each)")
            for name, url in cases:
                p50, p95 = measure(b, url, n)
                print(f"{name:30} {p50:8.1f} {p95:8.1f}")
    finally:
        http.stop()
        metrics.close()
        db.dispose()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
