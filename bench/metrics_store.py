"""Metric storage benchmarks (figures in docs/performance.md).

    .venv/bin/python -m bench.metrics_store size            # one school day: embedded vs VictoriaMetrics
    .venv/bin/python -m bench.metrics_store charts --data D # 30 days of a school, 7- and 30-day charts
    .venv/bin/python -m bench.metrics_store prune --data D  # ingest latency while retention prunes

A school: 143 devices, one report every 30 s from 08:00 to 18:00 on school days, each report shaped like
the real agent's (bench/agent_report.py: 65 samples, ~2.7 KB). `charts` builds its store once in D
(reused by later runs and by `prune`, which works on a copy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bench.agent_report import AgentLikeDevice, school
from campusmon.contract import Metrics
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.metrics.jobs import MaintenanceJob
from campusmon.server.metrics.lineproto import report_lines
from campusmon.server.metrics.sqlite import HOUR

DAY = 86400
SCHOOL_HOURS = (8, 18)
MIB = 2**20


def school_day_starts(days: int, end: datetime) -> list[int]:
    """Unix times of 08:00 UTC on the school days (Mon-Fri) among the `days` calendar days before `end`."""
    out = []
    for k in range(days, 0, -1):
        d = (end - timedelta(days=k)).replace(hour=SCHOOL_HOURS[0], minute=0, second=0, microsecond=0)
        if d.weekday() < 5:
            out.append(int(d.timestamp()))
    return out


def day_reports(devices: list[AgentLikeDevice], start: int, interval: int = 30) -> Iterator[Metrics]:
    """One school day, in time order (all devices at each tick, as they arrive)."""
    for tick in range(start, start + (SCHOOL_HOURS[1] - SCHOOL_HOURS[0]) * HOUR, interval):
        for d in devices:
            yield d.report(tick + d.seed % interval)


def table_bytes(path: Path) -> dict[str, int]:
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        try:
            rows = c.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name").fetchall()
        except sqlite3.OperationalError:  # SQLite without the dbstat table
            return {}
        (free,) = c.execute("PRAGMA freelist_count").fetchone()
        (page,) = c.execute("PRAGMA page_size").fetchone()
    out = {str(n): int(b) for n, b in rows}
    out["(free pages)"] = int(free) * int(page)
    return out


def compact(store: SqliteMetricStore, now: float) -> None:
    while True:
        step = store.maintain(now=now, budget_seconds=5.0)
        if not (step.more or step.vacuum_left):
            return


# -- size: one school day, embedded vs VictoriaMetrics --------------------------------------------------
def cmd_size(args: argparse.Namespace) -> None:
    from influxdb_client.client.influxdb_client import InfluxDBClient
    from influxdb_client.client.write_api import SYNCHRONOUS
    from influxdb_client.domain.write_precision import WritePrecision

    from tests.support.victoriametrics import VictoriaMetricsProcess

    work = Path(tempfile.mkdtemp(prefix="campusmon-size-"))
    start = school_day_starts(7, datetime.now(UTC))[-1]
    end = start + (SCHOOL_HOURS[1] - SCHOOL_HOURS[0]) * HOUR
    now = end + HOUR
    path = work / "metrics.db"
    store = SqliteMetricStore(path, clock=lambda: now)
    vm = VictoriaMetricsProcess(work / "vm").start()
    # influxdb-client's annotations are partial (WritePrecision.S is a str, close() is untyped)
    client: Any = InfluxDBClient(url=vm.url, token="", org="", enable_gzip=True, timeout=60_000)
    api: Any = client.write_api(write_options=SYNCHRONOUS)
    batch: list[str] = []
    samples = reports = lines = 0
    t_record = t_vm = 0.0
    t_compact = 0.0
    next_compaction = start + HOUR + 300
    try:
        for m in day_reports(school(devices=args.devices), start):
            if m.ts >= next_compaction:  # the background job's work, as it happens in service
                t = time.perf_counter()
                compact(store, m.ts)
                t_compact += time.perf_counter() - t
                next_compaction += HOUR
            t = time.perf_counter()
            store.record(m, received=m.ts)
            t_record += time.perf_counter() - t
            reports += 1
            samples += sum(
                1
                for g in m.metrics.values()
                for inst in ([g] if isinstance(g, dict) else g)
                for v in inst.values()
                if not isinstance(v, str)
            )
            t = time.perf_counter()
            batch.extend(report_lines(m))
            if len(batch) >= 5000:
                api.write(
                    bucket="campusmon", org="", record="\n".join(batch), write_precision=WritePrecision.S
                )
                lines += len(batch)
                batch = []
            t_vm += time.perf_counter() - t
        if batch:
            api.write(bucket="campusmon", org="", record="\n".join(batch), write_precision=WritePrecision.S)
            lines += len(batch)
        t = time.perf_counter()
        compact(store, now)
        t_compact += time.perf_counter() - t
        store.close()
        vm.flush()
        stored = sum(len(s["values"]) for s in vm.export('{campus="school"}'))
    finally:
        client.close()
        vm.stop()  # a clean stop writes out what it holds in memory
    wal = Path(f"{path}-wal").stat().st_size if Path(f"{path}-wal").exists() else 0
    tables = table_bytes(path)  # (checkpoints the WAL into the file first)
    embedded = path.stat().st_size
    vm_bytes = vm.disk_bytes()
    raw_tables = ("blocks", "blocks_samples", "reports", "head", "head_device_ts")
    raw_b = sum(tables.get(t, 0) for t in raw_tables)
    rollup_b = tables.get("rollups", 0)
    series_b = tables.get("series", 0) + tables.get("sqlite_autoindex_series_1", 0)
    per_device = reports // args.devices
    print(
        f"one school day: {args.devices} devices x {per_device} reports, {samples:,} samples, {lines:,} lines"
    )
    print(f"VictoriaMetrics holds {stored:,} samples (export)")
    print(f"record() {t_record / reports * 1e3:.3f} ms per report")
    print(f"compaction {t_compact:.1f} s for the day ({t_compact / reports * 1e3:.3f} ms per report)")
    print(f"embedded store  {embedded / MIB:8.1f} MiB  {embedded / samples:6.2f} bytes/sample (whole file)")
    free = tables.pop("(free pages)", 0)
    print(
        f"    (free pages kept for reuse {free / MIB:.1f} MiB; WAL before a checkpoint {wal / MIB:.1f} MiB)"
    )
    for name, b in sorted(tables.items(), key=lambda kv: -kv[1]):
        if b >= 64 * 1024:
            print(f"    {name:28} {b / MIB:8.1f} MiB  {b / samples:6.3f} bytes/sample")
    print(f"VictoriaMetrics {vm_bytes / MIB:8.1f} MiB  {vm_bytes / samples:6.2f} bytes/sample (data dir)")
    print(f"ratio embedded / VictoriaMetrics: {embedded / vm_bytes:.2f}x")
    # a term: 100 school days; raw kept 30 days (counted as 30 school days: the worst case), rollups a year
    term = 30 * raw_b + 100 * rollup_b + series_b
    print(
        f"a term (100 school days), default retention: raw 30 days x {raw_b / MIB:.1f} MiB + rollups "
        f"100 days x {rollup_b / MIB:.1f} MiB + series {series_b / MIB:.1f} MiB = {term / 2**30:.2f} GiB"
    )
    shutil.rmtree(work, ignore_errors=True)


# -- charts: 30 days of a school --------------------------------------------------------------------
def build(data: Path, devices: int, days: int) -> Path:
    path = data / "metrics.db"
    done = data / "built"
    if done.exists():
        return path
    data.mkdir(parents=True, exist_ok=True)
    end = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    store = SqliteMetricStore(path, raw_retention_days=3650, rollup_retention_days=3650)
    fleet = school(devices=devices)
    t = time.perf_counter()
    starts = school_day_starts(days, end)
    for i, start in enumerate(starts):
        for d in fleet:  # device by device: a day of one device is ten blocks, written at once
            ticks = range(start, start + (SCHOOL_HOURS[1] - SCHOOL_HOURS[0]) * HOUR, 30)
            store.import_reports((d.report(t + d.seed % 30) for t in ticks), received=start)
        print(f"  day {i + 1}/{len(starts)} loaded ({time.perf_counter() - t:.0f} s)", flush=True)
    store.close()
    done.write_text(f"{end.isoformat()}\n", encoding="utf-8")
    return path


def timed(fn: object, n: int) -> tuple[float, float]:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - t)
    return statistics.median(times), max(times)


def cmd_charts(args: argparse.Namespace) -> None:
    path = build(args.data, args.devices, args.days)
    end = datetime.fromisoformat((args.data / "built").read_text().strip()).timestamp()
    size = path.stat().st_size
    with sqlite3.connect(path) as c:
        (reports,) = c.execute("SELECT COUNT(*) FROM reports").fetchone()
    print(f"store: {size / MIB:.0f} MiB, {reports:,} reports ({args.devices} devices, {args.days} days)")
    # a fresh process would start cold: drop the OS cache for the file when allowed (root)
    cold_ok = _drop_cache(path)
    store = SqliteMetricStore(path, raw_retention_days=3650, rollup_retention_days=3650)
    cases = [
        ("7-day chart, cpu_usage_percent (step 15 min)", 7, "cpu_usage_percent", None),
        ("30-day chart, cpu_usage_percent (step 1 h)", 30, "cpu_usage_percent", None),
        ("7-day chart, 4 cores pooled", 7, "cpu_core_usage_percent", None),
        ("30-day chart, disk C: used", 30, "disk_used_percent", {"mount": "C:\\"}),
        ("24-hour chart from raw blocks (step 2 min)", 1, "cpu_usage_percent", None),
    ]
    for title, days, name, labels in cases:
        if cold_ok:
            store.close()
            _drop_cache(path)
            store = SqliteMetricStore(path, raw_retention_days=3650, rollup_retention_days=3650)

        def read(
            name: str = name,
            days: int = days,
            labels: dict[str, str] | None = labels,
            store: SqliteMetricStore = store,
        ) -> None:
            pts = store.series("school", "pc-042", name, since=end - days * DAY, until=end, labels=labels)
            assert pts, (name, days)

        cold = timed(read, 1)[0] if cold_ok else float("nan")
        warm, worst = timed(read, 15)
        print(
            f"{title:48} cold {cold * 1e3:7.1f} ms   warm median {warm * 1e3:6.1f} ms (max {worst * 1e3:.1f})"
        )
    store.close()


def _drop_cache(path: Path) -> bool:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
    except OSError:
        return False
    return True


# -- prune: ingest latency while retention deletes ------------------------------------------------------
def cmd_prune(args: argparse.Namespace) -> None:
    src = build(args.data, args.devices, args.days)
    work = Path(tempfile.mkdtemp(prefix="campusmon-prune-"))
    path = work / "metrics.db"
    shutil.copy(src, path)
    end = datetime.fromisoformat((args.data / "built").read_text().strip()).timestamp()
    keep = args.keep_days
    store = SqliteMetricStore(path, raw_retention_days=3650, rollup_retention_days=3650, clock=lambda: end)
    before = store.storage_info()
    live = school(campus="live", devices=args.devices)

    def ingest(seconds: float) -> list[float]:
        lat: list[float] = []
        stop = time.monotonic() + seconds
        tick = int(end) - 600
        while time.monotonic() < stop:
            for d in live:
                m = d.report(tick)
                t = time.perf_counter()
                store.record(m, received=tick)
                lat.append(time.perf_counter() - t)
            tick += 30
            time.sleep(args.pause)
        return lat

    # the background job runs all along, as in the server: first with nothing to prune ...
    job = MaintenanceJob(store, every=1.0)
    job.start()
    normal = ingest(args.seconds)
    # ... then with a shorter raw retention: it prunes while the same ingest goes on
    store.set_retention(keep, 3650)
    t0 = time.monotonic()
    during: list[float] = []
    done_at: list[float] = []

    def settled() -> bool:
        """Pruned to the new retention, and the free pages given back."""
        last = job.last
        if last is None or last.more or last.vacuum_left:
            return False
        oldest = store.storage_info().oldest_raw
        return oldest is not None and oldest >= end - keep * DAY

    def watch() -> None:
        while not settled():
            time.sleep(2.0)
            if time.monotonic() - t0 > 1800:
                return
        done_at.append(time.monotonic() - t0)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    while watcher.is_alive():
        during.extend(ingest(2.0))
    job.stop()
    after = store.storage_info()
    store.close()

    def figs(lat: list[float]) -> str:
        q = statistics.quantiles(lat, n=100)
        mean, p50, p99 = statistics.fmean(lat) * 1e3, q[49] * 1e3, q[98] * 1e3
        return f"mean {mean:.3f} ms, p50 {p50:.3f} ms, p99 {p99:.3f} ms, max {max(lat) * 1e3:.1f} ms"

    print(f"raw data: {before.raw_samples:,} samples from {_day(before.oldest_raw)}; retention {keep} days")
    took = done_at[0] if done_at else float("nan")
    print(
        f"pruned to {after.raw_samples:,} samples from {_day(after.oldest_raw)}, space back, in {took:.0f} s"
    )
    print(f"record() without pruning ({len(normal):,} reports): {figs(normal)}")
    print(f"record() while pruning    ({len(during):,} reports): {figs(during)}")
    print(
        f"ratio while pruning / normal: mean {statistics.fmean(during) / statistics.fmean(normal):.2f}x, "
        f"p99 {statistics.quantiles(during, n=100)[98] / statistics.quantiles(normal, n=100)[98]:.2f}x"
    )
    shutil.rmtree(work, ignore_errors=True)


def _day(ts: float | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("size", help="bytes per sample, embedded vs VictoriaMetrics, one school day")
    p.add_argument("--devices", type=int, default=143)
    for name in ("charts", "prune"):
        p = sub.add_parser(name)
        p.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "campusmon-bench-30d")
        p.add_argument("--devices", type=int, default=143)
        p.add_argument("--days", type=int, default=30, help="calendar days (school days have data)")
    p.add_argument("--keep-days", type=int, default=20, help="raw retention while measuring")
    p.add_argument("--seconds", type=float, default=20.0, help="ingest time without pruning")
    p.add_argument("--pause", type=float, default=0.02, help="seconds between rounds of reports")
    args = ap.parse_args()
    {"size": cmd_size, "charts": cmd_charts, "prune": cmd_prune}[args.cmd](args)


if __name__ == "__main__":
    main()
