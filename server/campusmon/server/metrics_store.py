"""Embedded metric storage (SQLite, WAL): one row per sample, duplicates dropped by (device, seq)."""

from __future__ import annotations

import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from campusmon.contract import Metrics, flatten
from campusmon.private_files import DIR_MODE, private_file

_SCHEMA = """
CREATE TABLE IF NOT EXISTS reports (
    campus TEXT NOT NULL, device TEXT NOT NULL, seq INTEGER NOT NULL,
    ts REAL NOT NULL, received REAL NOT NULL,
    PRIMARY KEY (campus, device, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS samples (
    campus TEXT NOT NULL, device TEXT NOT NULL, ts REAL NOT NULL,
    name TEXT NOT NULL, labels TEXT NOT NULL, value REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS ix_samples_device_name_ts ON samples (campus, device, name, ts);
CREATE INDEX IF NOT EXISTS ix_samples_ts ON samples (ts);
"""


@dataclass(frozen=True, slots=True)
class SamplePoint:
    ts: float
    labels: str
    value: float


class SqliteMetricStore:
    """Good for one school (143 devices every 30 s is ~5 reports/s); InfluxDB is the scale-out path."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        private_file(path, sqlite=True)
        self._conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10, isolation_level=None)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA)

    def record(self, report: Metrics, received: float | None = None) -> bool:
        """Store one report atomically; False if (campus, device, seq) was stored before."""
        rows = [
            (report.campus, report.device, report.ts, name, labels, value)
            for group, data in report.metrics.items()
            for name, labels, value in flatten(group, data)
        ]
        with self._lock:
            cur = self._conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                cur.execute(
                    "INSERT OR IGNORE INTO reports (campus, device, seq, ts, received) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (report.campus, report.device, report.seq, report.ts, received or time.time()),
                )
                if cur.rowcount == 0:
                    cur.execute("ROLLBACK")
                    return False
                cur.executemany(
                    "INSERT INTO samples (campus, device, ts, name, labels, value) VALUES (?, ?, ?, ?, ?, ?)",
                    rows,
                )
                cur.execute("COMMIT")
            except sqlite3.Error:
                cur.execute("ROLLBACK")
                raise
        return True

    def series(
        self, campus: str, device: str, name: str, since: float = 0.0, limit: int = 10_000
    ) -> list[SamplePoint]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT ts, labels, value FROM samples WHERE campus=? AND device=? AND name=? AND ts>=? "
                "ORDER BY ts LIMIT ?",
                (campus, device, name, since, limit),
            ).fetchall()
        return [SamplePoint(*r) for r in rows]

    def buckets(
        self, campus: str, device: str, name: str, *, since: float, until: float, step: float
    ) -> list[tuple[int, str, float, int, float, float]]:
        """Samples of `name` in [since, until] grouped in SQL by `step`-second bucket and label set:
        (bucket index, labels, sum, count, min, max), by bucket. One index range scan; no sample
        crosses into Python."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT CAST((ts - ?) / ? AS INTEGER) AS b, labels, SUM(value), COUNT(*), MIN(value), "
                "MAX(value) FROM samples WHERE campus=? AND device=? AND name=? AND ts>=? AND ts<=? "
                "GROUP BY b, labels ORDER BY b",
                (since, step, campus, device, name, since, until),
            ).fetchall()
        return [(int(b), str(lab), float(t), int(n), float(lo), float(hi)) for b, lab, t, n, lo, hi in rows]

    def latest(self, campus: str, device: str) -> list[tuple[str, str, float]]:
        """(name, labels, value) of the device's most recent report."""
        with self._lock:
            row = self._conn.execute(
                "SELECT MAX(ts) FROM reports WHERE campus=? AND device=?", (campus, device)
            ).fetchone()
            if row is None or row[0] is None:
                return []
            rows = self._conn.execute(
                "SELECT name, labels, value FROM samples INDEXED BY ix_samples_ts "
                "WHERE ts=? AND campus=? AND device=?",
                (row[0], campus, device),
            ).fetchall()
        return [(str(n), str(labels), float(v)) for n, labels, v in rows]

    def report_count(self, campus: str | None = None, device: str | None = None) -> int:
        sql, args = "SELECT COUNT(*) FROM reports", []
        if campus is not None and device is not None:
            sql += " WHERE campus=? AND device=?"
            args = [campus, device]
        with self._lock:
            (n,) = self._conn.execute(sql, args).fetchone()
        return int(n)

    def seqs(self, campus: str, device: str) -> list[int]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT seq FROM reports WHERE campus=? AND device=? ORDER BY received, seq", (campus, device)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def prune(self, older_than: float) -> int:
        with self._lock:
            cur = self._conn.execute("DELETE FROM samples WHERE ts < ?", (older_than,))
            self._conn.execute("DELETE FROM reports WHERE ts < ?", (older_than,))
            return cur.rowcount

    def close(self) -> None:
        with self._lock:
            self._conn.close()
