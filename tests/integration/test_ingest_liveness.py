"""Last-seen and last-seq are written behind (batched), and never move backwards."""

from __future__ import annotations

import time
from pathlib import Path

from sqlalchemy import select

from campusmon.contract import Metrics, encode
from campusmon.server.config import ServerConfig, StorageSettings
from campusmon.server.db import Database, as_utc
from campusmon.server.ingest import Ingestor
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.models import Device


def report(seq: int, ts: float) -> bytes:
    return encode(
        Metrics(
            campus="main",
            device="pc-1",
            ts=ts,
            seq=seq,
            interval=30,
            metrics={"cpu": {"cpu_usage_percent": 1.0}},
        )
    )


def ts(value: object) -> float:
    dt = as_utc(value)  # type: ignore[arg-type]
    assert dt is not None
    return dt.timestamp()


def row(db: Database) -> Device:
    with db.session() as s:
        return s.scalars(select(Device).where(Device.device == "pc-1")).one()


def test_liveness_batched_forward_only_and_flushed_by_sweep(tmp_path: Path) -> None:
    cfg = ServerConfig(storage=StorageSettings(data_dir=tmp_path))
    db = Database(cfg.storage.db_url)
    ing = Ingestor(cfg, db, SqliteMetricStore(cfg.storage.metrics_path))
    t0 = time.time()
    ing.handle("campusmon/main/pc-1/metrics", report(10, t0), received=t0)
    assert row(db).last_seq == 10  # a new device is written at once
    ing.handle("campusmon/main/pc-1/metrics", report(12, t0 + 30), received=t0 + 30)
    ing.handle("campusmon/main/pc-1/metrics", report(11, t0 + 15), received=t0 + 31)  # late, older
    assert row(db).last_seq == 10  # held in memory until the next write
    ing.sweep(t0 + 32)
    dev = row(db)
    assert dev.last_seq == 12
    assert abs(ts(dev.last_report_ts) - (t0 + 30)) < 0.01
    assert abs(ts(dev.last_seen) - (t0 + 31)) < 0.01
    # a replay after a restart (fresh ingestor, older seqs) moves nothing back
    ing2 = Ingestor(cfg, db, SqliteMetricStore(cfg.storage.metrics_path))
    ing2.handle("campusmon/main/pc-1/metrics", report(5, t0 - 600), received=t0 + 40)
    ing2.flush_liveness()
    dev = row(db)
    assert dev.last_seq == 12 and abs(ts(dev.last_seen) - (t0 + 40)) < 0.01
    db.dispose()
