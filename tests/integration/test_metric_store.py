"""The embedded metric store on a real SQLite file: idempotent writes, compaction, rollups that agree with
the raw data, late reports, retention while ingest goes on, the CLI."""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bench.agent_report import AgentLikeDevice
from campusmon.cli import app
from campusmon.contract import Metrics
from campusmon.server.metrics import MetricStore, MetricStoreError, SqliteMetricStore
from campusmon.server.metrics.jobs import MaintenanceJob

DAY = 86400
#: a Monday 08:00 in Asia/Shanghai, on the hour
T0 = 1_795_996_800


def report(device: str, seq: int, ts: float, cpu: float, campus: str = "main") -> Metrics:
    return Metrics(
        campus=campus,
        device=device,
        ts=ts,
        seq=seq,
        interval=30,
        metrics={
            "cpu": {"cpu_usage_percent": cpu, "cpu_count": 4},
            "disk": [
                {"mount": "C:\\", "disk_used_percent": 50.0 + seq / 1000},
                {"mount": "D:\\", "disk_used_percent": 5.0},
            ],
        },
    )


def compact_all(store: SqliteMetricStore, now: float) -> None:
    while True:
        step = store.maintain(now=now, budget_seconds=5)
        if not (step.more or step.vacuum_left):
            return


def test_record_is_idempotent_and_latest_is_the_newest_report(tmp_path: Path) -> None:
    store: MetricStore = SqliteMetricStore(tmp_path / "m" / "metrics.db", clock=lambda: T0 + 3600)
    assert isinstance(store, SqliteMetricStore)
    assert store.record(report("pc-1", 2, T0 + 60, 20.0), received=T0 + 61)
    assert store.record(report("pc-1", 1, T0 + 30, 10.0), received=T0 + 62)  # a replay, older
    assert not store.record(report("pc-1", 2, T0 + 60, 99.0))  # a redelivery
    assert store.report_count("main", "pc-1") == 2 and store.report_count() == 2
    assert store.seqs("main", "pc-1") == [2, 1]  # the order they arrived in
    assert store.latest("main", "pc-1") == {
        "cpu_usage_percent": 20.0,
        "cpu_count": 4.0,
        'disk_used_percent{mount="C:\\\\"}': 50.002,
        'disk_used_percent{mount="D:\\\\"}': 5.0,
    }
    assert store.latest("main", "nobody") == {}
    store.close()
    # after a restart the newest report comes from disk, compacted or not
    again = SqliteMetricStore(tmp_path / "m" / "metrics.db", clock=lambda: T0 + 3 * 3600)
    assert again.latest("main", "pc-1")["cpu_usage_percent"] == 20.0
    compact_all(again, T0 + 3 * 3600)
    assert again.storage_info().head_reports == 0
    assert again.latest("main", "pc-1")["cpu_usage_percent"] == 20.0
    assert not again.record(report("pc-1", 1, T0 + 30, 10.0))  # still a duplicate once compacted
    again.close()
    assert stat.S_IMODE(os.stat(tmp_path / "m").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(tmp_path / "m" / "metrics.db").st_mode) == 0o600


def test_charts_from_rollups_agree_with_raw_data_and_late_reports_are_merged(tmp_path: Path) -> None:
    now = T0 + 6 * 3600
    store = SqliteMetricStore(tmp_path / "metrics.db", clock=lambda: now)
    cpu = {}
    for i in range(4 * 120):  # four hours, every 30 s
        ts = T0 + 30 * i
        if i % 120 == 17:
            continue  # one missing report per hour: sent later
        cpu[ts] = round(5 + (i * 7919 % 900) / 10, 1)
        assert store.record(report("pc-1", i, ts, cpu[ts]))
    compact_all(store, now)
    info = store.storage_info()
    assert info.head_reports == 0 and info.reports == 4 * 119
    # the late reports: into the head, and merged into their hours' blocks and rollups later
    for h in range(4):
        i = h * 120 + 17
        ts = T0 + 30 * i
        cpu[ts] = 99.9
        assert store.record(report("pc-1", i, ts, 99.9))
    for step, label in ((300, "rollups"), (3600, "rollups"), (60, "raw")):
        for when in ("before compaction", "after compaction"):
            points = store.series(
                "main", "pc-1", "cpu_usage_percent", since=T0, until=T0 + 4 * 3600 - 1, step=step
            )
            assert len(points) == 4 * 3600 // step, (step, label, when)
            for p in points:
                values = [v for ts, v in cpu.items() if p.ts <= ts < p.ts + step]
                assert p.value == pytest.approx(sum(values) / len(values)), (step, label, when)
                assert (p.min, p.max) == (min(values), max(values)), (step, label, when)
            compact_all(store, now)
    assert store.storage_info().head_reports == 0
    # labels select one series; without them every series of the name is pooled
    c = store.series(
        "main", "pc-1", "disk_used_percent", since=T0, until=T0 + 3599, step=3600, labels={"mount": "C:\\"}
    )
    d = store.series(
        "main", "pc-1", "disk_used_percent", since=T0, until=T0 + 3599, step=3600, labels={"mount": "D:\\"}
    )
    both = store.series("main", "pc-1", "disk_used_percent", since=T0, until=T0 + 3599, step=3600, agg="max")
    assert c[0].min == 50.0 and d[0].value == 5.0 and both[0].value == c[0].max
    assert (
        store.series("main", "pc-1", "disk_used_percent", since=T0, step=3600, labels={"mount": "E:"}) == []
    )
    assert store.series("main", "pc-1", "nothing", since=T0) == []
    with pytest.raises(MetricStoreError):
        store.series("main", "pc-1", "cpu_usage_percent", since=T0, agg="median")
    store.close()


def test_retention_shrinks_forty_days_to_thirty_while_ingest_goes_on(tmp_path: Path) -> None:
    """40 days of two devices (a report every 15 min), 30-day raw retention: the maintenance job prunes
    in small batches while a third device keeps reporting; nothing it sends is lost."""
    now = T0 + 40 * DAY
    clock = [now]
    path = tmp_path / "metrics.db"
    store = SqliteMetricStore(
        path, raw_retention_days=30, rollup_retention_days=366, batch_rows=200, clock=lambda: clock[0]
    )
    # a store nobody pruned: 40 days, as the old server left it (retention was never applied)
    loader = SqliteMetricStore(path, raw_retention_days=3650, rollup_retention_days=3650, clock=lambda: now)
    devices = [AgentLikeDevice("main", f"pc-{i}", interval=900) for i in range(2)]
    loaded = loader.import_reports(
        d.report(now - 40 * DAY + 900 * k) for k in range(40 * 96) for d in devices
    )
    loader.close()
    assert loaded == 2 * 40 * 96
    before = store.storage_info()
    assert before.oldest_raw is not None and before.oldest_raw <= now - 39.9 * DAY

    live = AgentLikeDevice("main", "pc-live")
    sent: list[int] = []
    latencies: list[float] = []
    stop = threading.Event()

    def ingest() -> None:
        i = 0
        while not stop.is_set():
            m = live.report(now - 600 + i)
            t = time.perf_counter()
            assert store.record(m)
            latencies.append(time.perf_counter() - t)
            sent.append(m.seq)
            i += 1
            time.sleep(0.002)

    job = MaintenanceJob(store, every=0.05)
    feeder = threading.Thread(target=ingest)
    feeder.start()
    job.start()
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            info = store.storage_info()
            if info.oldest_raw is not None and info.oldest_raw >= now - 30 * DAY:
                break
            time.sleep(0.2)
    finally:
        stop.set()
        feeder.join(10)
        job.stop()
    after = store.storage_info()
    assert after.oldest_raw is not None and after.oldest_raw >= now - 30 * DAY, after
    # rollups are kept a year: the whole 40 days still chart at 5-minute resolution and coarser
    assert after.oldest_rollup is not None and after.oldest_rollup <= now - 39.9 * DAY
    old = store.series(
        "main", "pc-0", "cpu_usage_percent", since=now - 40 * DAY, until=now - 35 * DAY, step=3600
    )
    assert len(old) > 100
    assert (
        store.series("main", "pc-0", "cpu_usage_percent", since=now - 40 * DAY, until=now - 35 * DAY, step=60)
        == []
    )
    # the idempotency keys of pruned reports went with them; every live report is there
    assert store.report_count("main", "pc-0") == after.reports - store.report_count("main", "pc-1") - len(
        sent
    )
    assert store.seqs("main", "pc-live") == sent and len(sent) > 20
    assert max(latencies) < 1.0  # no long lock (the benchmark measures the 2x figure)
    assert 0.72 < (after.raw_samples - 65 * len(sent)) / before.raw_samples < 0.78  # 30 of 40 days
    compact_all(store, now)  # and the free pages went back to the file system
    store.close()
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (free,) = c.execute("PRAGMA freelist_count").fetchone()
        (pages,) = c.execute("PRAGMA page_count").fetchone()
    assert free <= max(1024, pages // 10)  # a reserve for the next reports; the rest went back


def test_pruned_space_goes_back_to_the_file_system(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    now = T0 + 10 * DAY
    store = SqliteMetricStore(path, raw_retention_days=30, clock=lambda: now)
    store.vacuum_reserve_pages = 16
    dev = AgentLikeDevice("main", "pc-1", interval=60)
    store.import_reports(dev.report(T0 + 60 * k) for k in range(3 * 24 * 60))  # three days
    for k in range(240):
        store.record(dev.report(now - 3 * 3600 + 30 * k))
    compact_all(store, now)
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    full = path.stat().st_size
    store.close()
    # restarted with a shorter retention: two of the three days expire
    store = SqliteMetricStore(path, raw_retention_days=8, clock=lambda: now)
    store.vacuum_reserve_pages = 16
    compact_all(store, now)
    assert store.storage_info().oldest_raw == T0 + 2 * DAY
    store.close()
    with sqlite3.connect(path) as c:
        c.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (free,) = c.execute("PRAGMA freelist_count").fetchone()
        (pages,) = c.execute("PRAGMA page_count").fetchone()
    assert free <= max(16, pages // 10) + 8  # (a page or two freed by the last statements)
    assert path.stat().st_size < full * 0.75, (path.stat().st_size, full)


def test_a_store_in_the_old_layout_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "metrics.db"
    with sqlite3.connect(path) as c:
        c.execute(
            "CREATE TABLE samples (campus TEXT, device TEXT, ts REAL, name TEXT, labels TEXT, value REAL)"
        )
        c.execute("INSERT INTO samples VALUES ('main', 'pc-1', 1.0, 'x', '', 1.0)")
    # a read-only command leaves it alone
    cfg = tmp_path / "server.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{tmp_path}"\n', encoding="utf-8")
    result = CliRunner().invoke(app, ["metrics", "storage", "--config", str(cfg)])
    assert result.exit_code == 1 and "old layout" in result.output
    assert SqliteMetricStore.old_layout(path)
    store = SqliteMetricStore(path)
    assert store.storage_info().reports == 0
    store.close()
    aside = [p for p in tmp_path.iterdir() if p.name.startswith("metrics-v1-")]
    assert len(aside) == 1
    with sqlite3.connect(aside[0]) as c:
        assert c.execute("SELECT COUNT(*) FROM samples").fetchone() == (1,)


def test_cli_series_and_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    cfg = tmp_path / "server.toml"
    cfg.write_text(f'[storage]\ndata_dir = "{data}"\n', encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(app, ["metrics", "storage", "--config", str(cfg)])
    assert result.exit_code == 1 and "no metric store" in result.output
    now = time.time()
    store = SqliteMetricStore(data / "metrics.db")
    for i in range(240):
        store.record(report("pc-1", i, now - 7200 + 30 * i, float(i % 50)))
        store.record(report("pc-1", i, now - 7200 + 30 * i, 1.0, campus="east"))
    store.record(report("pc-2", 1, now - 10, 1.0))
    compact_all(store, now)
    store.close()
    result = runner.invoke(
        app,
        [
            "metrics",
            "series",
            "main/pc-1",
            "cpu_usage_percent",
            "--since",
            "2h",
            "--step",
            "30m",
            "--json",
            "-c",
            str(cfg),
        ],
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.output)
    assert doc["campus"] == "main" and len(doc["points"]) in (4, 5)
    assert all(0 <= p["min"] <= p["value"] <= p["max"] <= 49 for p in doc["points"])
    result = runner.invoke(
        app,
        ["metrics", "series", "pc-2", 'disk_used_percent{mount="D:\\\\"}', "--since", "1h", "-c", str(cfg)],
    )
    assert result.exit_code == 0, result.output
    assert "main/pc-2" in result.output and "5" in result.output.splitlines()[-1]
    result = runner.invoke(app, ["metrics", "series", "pc-1", "cpu_usage_percent", "-c", str(cfg)])
    assert result.exit_code == 1 and "several campuses" in result.output
    result = runner.invoke(app, ["metrics", "series", "pc-2", "cpu_usage_prcent", "-c", str(cfg)])
    assert result.exit_code == 1 and "did you mean 'cpu_usage_percent'" in result.output
    result = runner.invoke(
        app, ["metrics", "series", "pc-2", "cpu_usage_percent", "--since", "soon", "-c", str(cfg)]
    )
    assert result.exit_code == 2
    result = runner.invoke(app, ["metrics", "storage", "--json", "-c", str(cfg)])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output)
    assert info["backend"] == "sqlite" and info["devices"] == 3 and info["reports"] == 481
    assert info["raw_samples"] == 481 * 4 and info["raw_retention_days"] == 30
    assert info["oldest_raw"] is not None and info["bytes_per_sample"] > 0
    result = runner.invoke(app, ["metrics", "storage", "-c", str(cfg)])
    assert result.exit_code == 0 and "raw 30 days, 5-minute rollups 366 days" in result.output
