"""The `influx` backend: raw samples to InfluxDB 2 or VictoriaMetrics through influxdb-client, with no
loss while the database is down.

`record()` writes the report to the embedded store (dedupe, rollups for the console's charts) and, in
the same SQLite transaction, its line protocol to a spool table: once `record()` returns, the report is
durable and the MQTT message can be acknowledged. The writer thread drains the spool in order, a
batch at a time, through the synchronous write API; a failed write is retried (exponential backoff
with jitter) and nothing leaves the spool before the database has taken it. The spool is bounded:
past `spool_max_reports` the oldest reports are dropped and counted. Spool depth, writes and failures
are counters (`counters()`); the writer logs when its state changes, never once per message.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import threading
import time
import zlib
from dataclasses import replace
from pathlib import Path
from typing import Any

from campusmon.contract import Metrics

from .lineproto import report_lines
from .model import Placement, StorageInfo
from .settings import InfluxSettings
from .sqlite import SqliteMetricStore

_log = logging.getLogger(__name__)

_SPOOL_SCHEMA = """
-- AUTOINCREMENT: ids keep growing when the spool empties (the depth is last id - first id + 1)
CREATE TABLE IF NOT EXISTS spool (
    id INTEGER PRIMARY KEY AUTOINCREMENT, ts INTEGER NOT NULL, data BLOB NOT NULL
);
"""
#: HTTP statuses that say the data itself is refused (InfluxDB 2 keeps the valid points of a 400)
REJECTED = (400, 422)
TOO_LARGE = 413


class InfluxMetricStore(SqliteMetricStore):
    """The embedded store plus a durable spool drained to an InfluxDB-protocol database."""

    backend = "influx"

    def __init__(self, path: Path, *, influx: InfluxSettings, **kwargs: Any) -> None:
        super().__init__(path, **kwargs)
        self.influx = influx
        self._w.executescript(_SPOOL_SCHEMA)
        self._s = self._connect()  # the writer's connection
        self._slock = threading.Lock()
        self._clock_lock = threading.Lock()
        self._counts: dict[str, float] = {
            "spool_dropped_reports_total": 0,
            "written_reports_total": 0,
            "written_lines_total": 0,
            "write_failures_total": 0,
            "rejected_reports_total": 0,
        }
        lo, hi = self._w.execute("SELECT MIN(id), MAX(id) FROM spool").fetchone()
        if lo is None:
            row = self._w.execute("SELECT seq FROM sqlite_sequence WHERE name='spool'").fetchone()
            hi = int(row[0]) if row is not None else 0
            lo = hi + 1
        self._spool_first = int(lo)
        self._spool_last = int(hi)
        self._spool_full = False
        #: set by the writer: only then do the counters describe this process's writes
        self.writing = False

    # -- the spool, written in the report's transaction ----------------------------------------------
    def _stored(self, cur: sqlite3.Cursor, report: Metrics, placement: Placement | None) -> None:
        lines = report_lines(report, placement)
        if not lines:  # every collector unavailable: nothing to write
            return
        body = "\n".join(lines).encode()
        cur.execute("INSERT INTO spool (ts, data) VALUES (?, ?)", (int(report.ts), zlib.compress(body, 1)))
        last = int(cur.lastrowid or 0)
        first = self._spool_first
        over = last - first + 1 - self.influx.spool_max_reports
        dropped = 0
        if over > 0:
            cur.execute("DELETE FROM spool WHERE id < ?", (first + over,))
            dropped = cur.rowcount
        with self._clock_lock:
            self._spool_last = last
            if over > 0:
                self._spool_first = first + over
                self._counts["spool_dropped_reports_total"] += dropped
            full = over > 0
            changed = full != self._spool_full
            self._spool_full = full
        if changed and full:
            _log.error(
                "metrics spool full (%d reports): the oldest are dropped until %s takes writes again",
                self.influx.spool_max_reports,
                self.influx.url,
            )
        elif changed:
            _log.warning("metrics spool below its bound again; no more reports dropped")

    def spool_depth(self) -> int:
        with self._clock_lock:
            return max(0, self._spool_last - self._spool_first + 1)

    def spool_read(self, max_lines: int) -> tuple[list[tuple[int, bytes]], bool]:
        """The oldest spooled reports, up to `max_lines` lines (at least one report), and whether
        more are waiting behind them."""
        out: list[tuple[int, bytes]] = []
        lines = 0
        more = False
        with self._slock:
            self._check_open()
            rows = self._s.execute(
                "SELECT id, data FROM spool ORDER BY id LIMIT ?", (max(1, max_lines // 8),)
            ).fetchall()
        for rid, data in rows:
            body = zlib.decompress(data)
            n = body.count(b"\n") + 1
            if out and lines + n > max_lines:
                more = True
                break
            out.append((int(rid), body))
            lines += n
        return out, more or len(rows) == max(1, max_lines // 8)

    def spool_done(self, upto: int, lines: int, reports: int, *, written: bool = True) -> None:
        """Remove reports up to id `upto` (the database has them, or refused them for good)."""
        with self._slock:
            self._check_open()
            with self._txn(self._s) as cur:
                cur.execute("DELETE FROM spool WHERE id <= ?", (upto,))
        with self._clock_lock:
            self._spool_first = max(self._spool_first, upto + 1)
            if written:
                self._counts["written_reports_total"] += reports
                self._counts["written_lines_total"] += lines
            else:
                self._counts["rejected_reports_total"] += reports

    def count(self, key: str, n: float = 1) -> None:
        with self._clock_lock:
            self._counts[key] = self._counts.get(key, 0) + n

    def counters(self) -> dict[str, float]:
        """`campusmon_metrics_*` counters and the spool depth gauge, for /metrics and the CLI."""
        out = super().counters()
        with self._clock_lock:
            out.update({f"campusmon_metrics_{k}": v for k, v in self._counts.items()})
            out["campusmon_metrics_spool_reports"] = max(0, self._spool_last - self._spool_first + 1)
        return out

    def storage_info(self) -> StorageInfo:
        info = super().storage_info()
        with self._slock:
            self._check_open()
            n, oldest = self._s.execute("SELECT COUNT(*), MIN(ts) FROM spool").fetchone()
        return replace(
            info,
            spool_reports=int(n),
            spool_oldest=None if oldest is None else float(oldest),
            influx_url=self.influx.url,
            counters=self.counters() if self.writing else None,
        )

    def close(self) -> None:
        if not self._closed:
            with self._slock:
                self._s.close()
        super().close()


class InfluxWriter:
    """Drains the spool in order; retries with exponential backoff and jitter; logs state changes."""

    def __init__(self, store: InfluxMetricStore) -> None:
        self.store = store
        self.cfg = store.influx
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._failing = False
        self._failures_in_row = 0
        self._batch = self.cfg.batch_size
        self._client: Any = None
        self._api: Any = None

    def start(self) -> None:
        from influxdb_client.client.influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        cfg = self.cfg
        self._client = InfluxDBClient(
            url=cfg.url,
            token=cfg.token,
            org=cfg.org,
            timeout=int(cfg.timeout_seconds * 1000),
            enable_gzip=cfg.gzip,
            verify_ssl=cfg.verify_ssl,
            ssl_ca_cert=str(cfg.ssl_ca_cert) if cfg.ssl_ca_cert else None,
        )
        self._api = self._client.write_api(write_options=SYNCHRONOUS)
        self.store.writing = True
        self._thread = threading.Thread(target=self._run, name="metrics-influx", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._drain(time.monotonic() + timeout)
        if self._client is not None:
            self._client.close()

    def _drain(self, deadline: float) -> None:
        """A clean stop writes what the spool still holds (no retries): a district worker that is
        scaled down may not come back to write it later."""
        while self._api is not None and time.monotonic() < deadline:
            try:
                batch, _ = self.store.spool_read(self._batch)
            except sqlite3.Error:
                return
            if not batch:
                return
            body = b"\n".join(data for _, data in batch)
            if self.write(body) != "ok":
                _log.warning("metrics: %d reports stay in the spool at stop", self.store.spool_depth())
                return
            self.store.spool_done(batch[-1][0], body.count(b"\n") + 1, len(batch))

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                batch, more = self.store.spool_read(self._batch)
            except sqlite3.Error as exc:
                self._fail(f"spool unreadable: {exc}")
                continue
            if not batch:
                self._stop.wait(self.cfg.flush_interval_seconds)
                continue
            body = b"\n".join(data for _, data in batch)
            lines = body.count(b"\n") + 1
            outcome = self.write(body)
            if outcome in ("ok", "rejected"):
                try:
                    self.store.spool_done(batch[-1][0], lines, len(batch), written=outcome == "ok")
                except sqlite3.Error as exc:  # written twice later at worst: same points, same values
                    self._fail(f"spool not updated: {exc}")
                    continue
                self._recovered()
                if not more:  # a partly filled batch: wait for more reports
                    self._stop.wait(self.cfg.flush_interval_seconds)
            elif outcome == "too_large" and len(batch) > 1:
                self._batch = max(1, self._batch // 2)
            elif outcome == "too_large":
                _log.error("metrics: one report is too large for %s; dropped", self.cfg.url)
                self.store.spool_done(batch[-1][0], lines, 1, written=False)
            # "failed": _fail() waited; the same batch is tried again

    def write(self, body: bytes) -> str:
        """One write request: "ok", "rejected" (never retried), "too_large" or "failed"."""
        import urllib3
        from influxdb_client.client.exceptions import InfluxDBError
        from influxdb_client.domain.write_precision import WritePrecision
        from influxdb_client.rest import ApiException

        try:
            self._api.write(
                bucket=self.cfg.bucket,
                org=self.cfg.org or None,
                record=body,
                write_precision=WritePrecision.S,
            )
        except ApiException as exc:
            if exc.status in REJECTED:
                self.store.count("write_failures_total")
                _log.error(
                    "metrics: %s refused a batch (%s): %s", self.cfg.url, exc.status, str(exc.body)[:300]
                )
                return "rejected"
            if exc.status == TOO_LARGE:
                return "too_large"
            self._fail(f"HTTP {exc.status} {exc.reason}")
            return "failed"
        except (InfluxDBError, urllib3.exceptions.HTTPError, OSError) as exc:
            self._fail(f"{type(exc).__name__}: {exc}")
            return "failed"
        return "ok"

    def _fail(self, why: str) -> None:
        self.store.count("write_failures_total")
        self._failures_in_row += 1
        if not self._failing:
            self._failing = True
            _log.warning(
                "metrics: writes to %s failing (%s); reports wait in the spool (%d now)",
                self.cfg.url,
                why[:300],
                self.store.spool_depth(),
            )
        cfg = self.cfg
        delay = min(
            cfg.max_retry_delay_seconds,
            cfg.retry_interval_seconds * cfg.exponential_base ** min(self._failures_in_row - 1, 30),
        )
        self._stop.wait(delay + random.uniform(0, cfg.jitter_seconds))

    def _recovered(self) -> None:
        if self._failing:
            _log.warning(
                "metrics: writes to %s work again after %d failed attempts; %d reports left in the spool",
                self.cfg.url,
                self._failures_in_row,
                self.store.spool_depth(),
            )
        self._failing = False
        self._failures_in_row = 0

    @property
    def failing(self) -> bool:
        return self._failing

    def drained(self) -> bool:
        return self.store.spool_depth() == 0


def wait_drained(writer: InfluxWriter, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if writer.drained():
            return True
        time.sleep(0.05)
    return writer.drained()
