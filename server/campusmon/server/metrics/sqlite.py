"""The embedded metric store: one SQLite file (WAL) that stays small and fast for years.

Layout (bytes per sample measured in docs/performance.md):

- `devices`, `series`: integer ids for (campus, device) and (device, name, labels).
- `reports`: one small row per report, (device, seq) -> ts: the idempotency key, kept as long as raw data.
- `head`: reports of the last hour(s), one row each (series ids and values packed), written by
  `record()` in one short transaction.
- `blocks`: one row per device and hour, the hour's reports packed column by column and compressed
  (codec.py); `rollups`: one row per device and hour, 5-minute count/min/max/sum/last per series.

A background job (`maintain()`, one small step at a time) compacts finished hours of the head into a
block and its rollup, merges late reports into their hour, and applies retention: raw blocks and
idempotency keys after `raw_retention_days`, rollups after `rollup_retention_days`, each in small
batches so ingest never waits long, then gives free pages back to the file system.

Charts read the rollups when the step is 5 minutes or more, raw blocks otherwise, plus the head.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from campusmon.contract import Metrics
from campusmon.private_files import private_dir, private_file

from .codec import (
    Bucket,
    CodecError,
    RawRows,
    decimal_scale,
    decode_raw,
    decode_rollup,
    encode_raw,
    encode_rollup,
    raw_last,
    raw_series,
    rollup_buckets,
)
from .model import MetricStoreError, Placement, SeriesPoint, StorageInfo, flatten, parse_labels, series_key
from .query import Binner, check_agg, choose_step

_log = logging.getLogger(__name__)

SCHEMA_VERSION: Final = 2
#: the rollup resolution (seconds); an hour holds 12 buckets
ROLLUP_STEP: Final = 300
HOUR: Final = 3600
#: blocks and rollups are keyed by device id << 24 | hour number (unix time // 3600)
_HOUR_BITS: Final = 24
_HOUR_MASK: Final = (1 << _HOUR_BITS) - 1
_DAY: Final = 86400
#: seconds between retention passes over every device (sooner while a pass leaves rows behind)
PRUNE_EVERY: Final = 60.0
#: free pages kept for reuse rather than returned to the file system: 10% of the file, at least 4 MiB
VACUUM_RESERVE: Final = 0.10
VACUUM_RESERVE_PAGES: Final = 1024
#: pages moved per vacuum statement (each is its own short transaction)
VACUUM_STEP_PAGES: Final = 64
#: a raw block or rollup row weighs this many small rows in a prune batch
BLOCK_ROWS: Final = 100
#: the ingest connection checkpoints the WAL itself only past this many pages (a safety net: the
#: maintenance job checkpoints after every step, so ingest never pays for it)
INGEST_AUTOCHECKPOINT_PAGES: Final = 20000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS devices (
    id INTEGER PRIMARY KEY, campus TEXT NOT NULL, device TEXT NOT NULL, UNIQUE (campus, device)
);
CREATE TABLE IF NOT EXISTS series (
    id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL, name TEXT NOT NULL, labels TEXT NOT NULL,
    last_hour INTEGER NOT NULL, UNIQUE (device_id, name, labels)
);
-- one row per report: the idempotency key; delay = seconds from the report's ts to its arrival
CREATE TABLE IF NOT EXISTS reports (
    device_id INTEGER NOT NULL, seq INTEGER NOT NULL, ts INTEGER NOT NULL, delay INTEGER NOT NULL,
    PRIMARY KEY (device_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS head (
    id INTEGER PRIMARY KEY, device_id INTEGER NOT NULL, ts INTEGER NOT NULL, seq INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS head_device_ts ON head (device_id, ts);
CREATE TABLE IF NOT EXISTS blocks (
    key INTEGER PRIMARY KEY, reports INTEGER NOT NULL, samples INTEGER NOT NULL, data BLOB NOT NULL
);
-- `storage_info` sums samples from this small index instead of reading every block
CREATE INDEX IF NOT EXISTS blocks_samples ON blocks (samples);
CREATE TABLE IF NOT EXISTS rollups (key INTEGER PRIMARY KEY, data BLOB NOT NULL);
"""
_INSERT_REPORT: Final = "INSERT OR IGNORE INTO reports (device_id, seq, ts, delay) VALUES (?, ?, ?, ?)"


def block_key(device_id: int, hour: int) -> int:
    return device_id << _HOUR_BITS | (hour & _HOUR_MASK)


def key_hour(key: int) -> int:
    return key & _HOUR_MASK


def _pack_head(sids: list[int], values: list[float]) -> bytes:
    n = len(sids)
    return struct.pack(f"<{n}I{n}d", *sids, *values)


def _unpack_head(data: bytes) -> tuple[tuple[int, ...], tuple[float, ...]]:
    n = len(data) // 12
    flat = struct.unpack(f"<{n}I{n}d", data)
    return flat[:n], flat[n:]


@dataclass(frozen=True, slots=True)
class MaintenanceStep:
    """What one `maintain()` call did; `more` says whether work is left right now."""

    compacted_hours: int = 0
    pruned_rows: int = 0
    vacuumed_pages: int = 0
    more: bool = False
    #: free pages are still to be given back (gentler work: the job paces it)
    vacuum_left: bool = False


class SqliteMetricStore:
    """The default metric store; good for one school on one server (and, for charts, for every backend)."""

    backend = "sqlite"
    #: free pages always kept for reuse (besides 10% of the file)
    vacuum_reserve_pages = VACUUM_RESERVE_PAGES

    @staticmethod
    def old_layout(path: Path) -> bool:
        """Is `path` a store of the old one-row-per-sample layout (moved aside when the server starts)?"""
        if not path.exists():
            return False
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
            tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        return "samples" in tables and "meta" not in tables

    def __init__(
        self,
        path: Path,
        *,
        raw_retention_days: int = 30,
        rollup_retention_days: int = 366,
        compact_delay_seconds: float = 300.0,
        batch_rows: int = 2000,
        clock: Callable[[], float] | None = None,
    ) -> None:
        if raw_retention_days < 1 or rollup_retention_days < raw_retention_days:
            raise ValueError("retention: raw >= 1 day and rollups kept at least as long as raw data")
        self.path = path
        self.raw_retention_days = raw_retention_days
        self.rollup_retention_days = rollup_retention_days
        self.compact_delay_seconds = compact_delay_seconds
        self.batch_rows = batch_rows
        self.clock = clock or time.time
        _create_private(path)
        self._w = self._connect()
        self._migrate(self._w)
        self._w.execute(f"PRAGMA wal_autocheckpoint={INGEST_AUTOCHECKPOINT_PAGES}")
        self._m = self._connect()
        self._r = self._connect()
        self._turn = threading.Lock()  # write transactions of this process, one at a time
        self._wlock = threading.Lock()  # the ingest connection and the id caches
        self._mlock = threading.Lock()  # the maintenance connection
        self._rlock = threading.Lock()  # the read connection
        self._device_ids: dict[tuple[str, str], int] = {}
        self._series_ids: dict[tuple[int, str, str], int] = {}
        self._latest: dict[int, tuple[int, list[int], list[float]]] = {}
        self._gc_hour = -1
        self._pruned_at = -math.inf
        self._prune_more = False
        self._maintained = {"compacted_hours_total": 0, "pruned_rows_total": 0, "vacuumed_pages_total": 0}
        self._closed = False

    # -- connections and schema -------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(str(self.path), check_same_thread=False, timeout=30, isolation_level=None)
        # free pages go back to the file system in small steps; takes effect only in a new file, so
        # before anything (journal_mode included) writes its first page
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA cache_size=-16000")  # 16 MiB per connection
        return conn

    def _migrate(self, conn: sqlite3.Connection) -> None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "samples" in tables and "meta" not in tables:
            conn.close()
            aside = self.path.with_name(f"{self.path.stem}-v1-{int(time.time())}{self.path.suffix}")
            os.replace(self.path, aside)
            for suffix in ("-wal", "-shm"):
                old = Path(f"{self.path}{suffix}")
                if old.exists():
                    os.replace(old, Path(f"{aside}{suffix}"))
            _log.warning(
                "metrics: %s had the old one-row-per-sample layout; moved to %s, starting a new store",
                self.path,
                aside,
            )
            _create_private(self.path)
            self._w = conn = self._connect()
            tables = set()
        conn.executescript(_SCHEMA)
        row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        if row is None:
            conn.execute("INSERT INTO meta (key, value) VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) > SCHEMA_VERSION:
            raise MetricStoreError(f"{self.path}: written by a newer campusmon (schema {row[0]})")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for lock, conn in ((self._wlock, self._w), (self._mlock, self._m), (self._rlock, self._r)):
            with lock:
                conn.close()

    @contextmanager
    def _txn(self, conn: sqlite3.Connection) -> Iterator[sqlite3.Cursor]:
        """One write transaction. This process's writers (ingest, maintenance) take turns on a lock:
        a waiting writer wakes the moment the other commits, instead of sleeping in SQLite's busy
        handler (whose back-off would let one long maintenance pass starve ingest)."""
        with self._turn:
            cur = conn.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                if conn.in_transaction:
                    cur.execute("ROLLBACK")
                raise
            if conn.in_transaction:
                cur.execute("COMMIT")

    # -- ids ----------------------------------------------------------------------------------------
    def _device_id(self, campus: str, device: str) -> int:
        key = (campus, device)
        dev = self._device_ids.get(key)
        if dev is None:
            with self._txn(self._w) as cur:
                row = cur.execute(
                    "INSERT INTO devices (campus, device) VALUES (?, ?) "
                    "ON CONFLICT (campus, device) DO UPDATE SET campus=excluded.campus RETURNING id",
                    key,
                ).fetchone()
            dev = self._device_ids[key] = int(row[0])
        return dev

    def _series(self, dev: int, rows: list[tuple[str, str, float]], hour: int) -> list[int]:
        cache = self._series_ids
        sids: list[int] = []
        missing: list[tuple[int, str, str]] = []
        for name, labels, _ in rows:
            sid = cache.get((dev, name, labels))
            if sid is None:
                missing.append((dev, name, labels))
                sids.append(-1)
            else:
                sids.append(sid)
        if not missing:
            return sids
        try:
            with self._txn(self._w) as cur:
                for key in missing:
                    # a series met again after a long pause is marked current, so series GC leaves it
                    (sid,) = cur.execute(
                        "INSERT INTO series (device_id, name, labels, last_hour) VALUES (?, ?, ?, ?) "
                        "ON CONFLICT (device_id, name, labels) DO UPDATE SET "
                        "last_hour=max(last_hour, excluded.last_hour) RETURNING id",
                        (*key, hour),
                    ).fetchone()
                    cache[key] = int(sid)
        except sqlite3.Error:
            for key in missing:
                cache.pop(key, None)
            raise
        return [cache[(dev, name, labels)] for name, labels, _ in rows]

    # -- writing ----------------------------------------------------------------------------------
    def record(
        self, report: Metrics, received: float | None = None, placement: Placement | None = None
    ) -> bool:
        """Store one report in one short transaction; False if (campus, device, seq) was stored before."""
        received = self.clock() if received is None else received
        ts = int(report.ts)
        rows = [r for group in report.metrics.values() for r in flatten(group)]
        values = [v for _, _, v in rows]
        with self._wlock:
            self._check_open()
            dev = self._device_id(report.campus, report.device)
            sids = self._series(dev, rows, ts // HOUR)
            with self._txn(self._w) as cur:
                cur.execute(_INSERT_REPORT, (dev, report.seq, ts, round(received) - ts))
                if cur.rowcount == 0:
                    cur.execute("ROLLBACK")
                    return False
                cur.execute(
                    "INSERT INTO head (device_id, ts, seq, data) VALUES (?, ?, ?, ?)",
                    (dev, ts, report.seq, _pack_head(sids, values)),
                )
                self._stored(cur, report, placement)
            newest = self._latest.get(dev)
            if newest is None or ts >= newest[0]:
                self._latest[dev] = (ts, sids, values)
        return True

    def _stored(self, cur: sqlite3.Cursor, report: Metrics, placement: Placement | None) -> None:
        """Hook inside the report's transaction (the InfluxDB backend spools the report here)."""

    def _check_open(self) -> None:
        if self._closed:
            raise MetricStoreError("the metric store is closed")

    def import_reports(self, reports: Iterable[Metrics], received: float | None = None) -> int:
        """Write reports of past hours straight into blocks and rollups (a bulk load: benchmarks, a
        restore); duplicates by (campus, device, seq) are skipped. Returns how many were new."""
        by_hour: dict[tuple[int, int], list[tuple[int, int, list[tuple[str, str, float]]]]] = {}
        received = self.clock() if received is None else received
        for rep in reports:
            with self._wlock:
                dev = self._device_id(rep.campus, rep.device)
            flat = [r for g in rep.metrics.values() for r in flatten(g)]
            by_hour.setdefault((dev, int(rep.ts) // HOUR), []).append((int(rep.ts), rep.seq, flat))
        new = 0
        for (dev, hour), items in sorted(by_hour.items()):
            rows = RawRows()
            keys: list[tuple[int, int, int, int]] = []
            with self._wlock:
                for ts, seq, flat in items:
                    sids = self._series(dev, flat, hour)
                    rows.add(ts, seq, sids, [v for _, _, v in flat])
                    keys.append((dev, seq, ts, round(received) - ts))
            with self._mlock, self._txn(self._m) as cur:
                new_rows = []
                for i, key in enumerate(keys):
                    cur.execute(_INSERT_REPORT, key)
                    if cur.rowcount:
                        new_rows.append(i)
                fresh = rows
                if len(new_rows) < len(keys):  # some were stored before: only the others
                    fresh = RawRows()
                    for i in new_rows:
                        _copy_row(rows, i, fresh)
                if fresh.ts:
                    new += len(fresh.ts)
                    self._write_hour(cur, dev, hour, fresh)
        return new

    # -- compaction and retention ------------------------------------------------------------------
    def maintain(self, now: float | None = None, budget_seconds: float = 0.25) -> MaintenanceStep:
        """One bounded step of background work: compact finished hours, prune, vacuum."""
        now = self.clock() if now is None else now
        deadline = time.monotonic() + budget_seconds
        compacted = pruned = pages = 0
        more = False
        with self._mlock:
            self._check_open()
            devices = [int(r[0]) for r in self._m.execute("SELECT id FROM devices ORDER BY id")]
            due_before = int(now - self.compact_delay_seconds) // HOUR * HOUR
            for dev in devices:
                while True:
                    if time.monotonic() > deadline:
                        self._count_step(compacted, pruned, pages)
                        return MaintenanceStep(compacted, pruned, pages, True)
                    row = self._m.execute(
                        "SELECT ts FROM head WHERE device_id=? ORDER BY ts LIMIT 1", (dev,)
                    ).fetchone()
                    if row is None or row[0] >= due_before:
                        break
                    self._compact(dev, int(row[0]) // HOUR)
                    compacted += 1
            raw_cut = int(now) - self.raw_retention_days * _DAY
            rollup_cut = int(now) - self.rollup_retention_days * _DAY
            if self._prune_more or time.monotonic() - self._pruned_at >= PRUNE_EVERY:
                self._prune_more = False
                for dev in devices:
                    if time.monotonic() > deadline:
                        self._prune_more = True
                        self._count_step(compacted, pruned, pages)
                        return MaintenanceStep(compacted, pruned, pages, True)
                    n, left = self._prune_device(dev, raw_cut, rollup_cut)
                    pruned += n
                    more = more or left
                self._prune_more = more
                self._pruned_at = time.monotonic()
            if int(now) // HOUR != self._gc_hour and not more:
                pruned += self._gc_series(rollup_cut // HOUR)
                self._gc_hour = int(now) // HOUR
            pages, left = self._vacuum(deadline)
            self._count_step(compacted, pruned, pages)
            # concurrent with ingest (a PASSIVE checkpoint waits for nobody), so ingest's commits
            # never have to copy the WAL back themselves
            self._m.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return MaintenanceStep(compacted, pruned, pages, more, vacuum_left=left)

    def set_retention(self, raw_days: int, rollup_days: int) -> None:
        """New retention (a reloaded config); the next maintenance step applies it."""
        if raw_days < 1 or rollup_days < raw_days:
            raise ValueError("retention: raw >= 1 day and rollups kept at least as long as raw data")
        with self._mlock:
            self.raw_retention_days = raw_days
            self.rollup_retention_days = rollup_days
            self._pruned_at = -math.inf

    def _count_step(self, compacted: int, pruned: int, pages: int) -> None:
        m = self._maintained
        m["compacted_hours_total"] += compacted
        m["pruned_rows_total"] += pruned
        m["vacuumed_pages_total"] += pages

    def counters(self) -> dict[str, float]:
        """`campusmon_metrics_*` counters of this process's background work (for /metrics)."""
        return {f"campusmon_metrics_{k}": float(v) for k, v in self._maintained.items()}

    def _compact(self, dev: int, hour: int) -> None:
        """Move one hour of a device's head into its block and rollup (merging an existing block)."""
        lo, hi = hour * HOUR, (hour + 1) * HOUR
        heads = self._m.execute(
            "SELECT id, ts, seq, data FROM head WHERE device_id=? AND ts>=? AND ts<?", (dev, lo, hi)
        ).fetchall()
        key = block_key(dev, hour)
        old = self._m.execute("SELECT data FROM blocks WHERE key=?", (key,)).fetchone()
        rows = RawRows()
        if old is not None:
            try:
                rows = decode_raw(old[0])
            except CodecError as exc:
                _log.error("metrics: block of device %s hour %s unreadable, replaced: %s", dev, hour, exc)
        for _id, ts, seq, data in heads:
            sids, values = _unpack_head(data)
            rows.add(ts, seq, sids, values)
        encoded = _encode_hour(hour, rows)  # before the transaction: the lock is held for writes only
        with self._txn(self._m) as cur:
            if encoded is not None:
                _store_hour(cur, key, hour, encoded)
            cur.executemany("DELETE FROM head WHERE id=?", [(r[0],) for r in heads])

    def _write_hour(
        self, cur: sqlite3.Cursor, dev: int, hour: int, rows: RawRows, *, merge: bool = True
    ) -> None:
        """Write (or with `merge`, add to) the block and the rollup of one device-hour."""
        key = block_key(dev, hour)
        if merge:
            old = cur.execute("SELECT data FROM blocks WHERE key=?", (key,)).fetchone()
            if old is not None:
                merged = decode_raw(old[0])
                for i in range(len(rows.ts)):
                    _copy_row(rows, i, merged)
                rows = merged
        encoded = _encode_hour(hour, rows)
        if encoded is not None:
            _store_hour(cur, key, hour, encoded)

    def _prune_device(self, dev: int, raw_cut: int, rollup_cut: int) -> tuple[int, bool]:
        """Delete a small batch of one device's expired rows in one short transaction: at most
        `batch_rows` small rows, and a block counts as BLOCK_ROWS of them. (deleted, some left?)"""
        base = block_key(dev, 0)
        rows = self.batch_rows
        blocks = max(1, rows // BLOCK_ROWS)
        with self._txn(self._m) as cur:
            n = 0
            left = False
            for table, cut in (("blocks", raw_cut), ("rollups", rollup_cut)):
                cur.execute(
                    f"DELETE FROM {table} WHERE key IN "
                    f"(SELECT key FROM {table} WHERE key>=? AND key<? LIMIT ?)",
                    (base, block_key(dev, cut // HOUR), blocks),
                )
                n += cur.rowcount
                left = left or cur.rowcount >= blocks
            for sql, args in (
                (
                    "DELETE FROM head WHERE id IN (SELECT id FROM head WHERE device_id=? AND ts<? LIMIT ?)",
                    (dev,),
                ),
                (
                    "DELETE FROM reports WHERE device_id=? AND seq IN "
                    "(SELECT seq FROM reports WHERE device_id=? AND ts<? LIMIT ?)",
                    (dev, dev),
                ),
            ):
                cur.execute(sql, (*args, raw_cut, rows))
                n += cur.rowcount
                left = left or cur.rowcount >= rows
        return n, left

    def _gc_series(self, before_hour: int) -> int:
        """Forget series with no data left (a process that ran once, a NIC long gone)."""
        with self._wlock:
            gone = self._w.execute(
                "SELECT id, device_id, name, labels FROM series WHERE last_hour<? LIMIT ?",
                (before_hour, self.batch_rows),
            ).fetchall()
            if not gone:
                return 0
            with self._txn(self._w) as cur:
                cur.executemany("DELETE FROM series WHERE id=?", [(g[0],) for g in gone])
            for _, dev, name, labels in gone:
                self._series_ids.pop((dev, name, labels), None)
        return len(gone)

    def _vacuum(self, deadline: float) -> tuple[int, bool]:
        """Give free pages beyond a reserve back to the file system, a few hundred at a time; the
        reserve (10% of the file) is what the next hours of reports reuse anyway. (pages, more left)"""
        (free,) = self._m.execute("PRAGMA freelist_count").fetchone()
        (total,) = self._m.execute("PRAGMA page_count").fetchone()
        excess = free - max(self.vacuum_reserve_pages, int(total * VACUUM_RESERVE))
        done = 0
        while excess > 0 and time.monotonic() < deadline:
            step = min(excess, VACUUM_STEP_PAGES)
            # one page per step of the statement: executescript runs it to the end, execute() would not
            with self._turn:
                self._m.executescript(f"PRAGMA incremental_vacuum({step});")
            done += step
            excess -= step
        return done, excess > 0

    # -- reading ----------------------------------------------------------------------------------
    @contextmanager
    def _snapshot(self) -> Iterator[sqlite3.Connection]:
        """The read connection inside one read transaction (every query sees the same data)."""
        with self._rlock:
            self._check_open()
            self._r.execute("BEGIN")
            try:
                yield self._r
            finally:
                self._r.execute("COMMIT")

    def _find_device(self, conn: sqlite3.Connection, campus: str, device: str) -> int | None:
        row = conn.execute("SELECT id FROM devices WHERE campus=? AND device=?", (campus, device)).fetchone()
        return None if row is None else int(row[0])

    def devices(self) -> list[tuple[str, str]]:
        """Every (campus, device) with stored reports."""
        with self._snapshot() as c:
            return [
                (r[0], r[1]) for r in c.execute("SELECT campus, device FROM devices ORDER BY campus, device")
            ]

    def series_names(self, campus: str, device: str) -> list[str]:
        """Every series key of a device (`name{labels}`)."""
        with self._snapshot() as c:
            dev = self._find_device(c, campus, device)
            if dev is None:
                return []
            rows = c.execute(
                "SELECT name, labels FROM series WHERE device_id=? ORDER BY name, labels", (dev,)
            )
            return [series_key(n, lb) for n, lb in rows]

    def latest(self, campus: str, device: str) -> dict[str, float]:
        hit = self.newest(campus, device)
        return {} if hit is None else hit[1]

    def newest(self, campus: str, device: str) -> tuple[float, dict[str, float]] | None:
        """The device's newest report: its time and its values by series key (None: no report)."""
        with self._wlock:
            dev = self._device_ids.get((campus, device))
            hit = self._latest.get(dev) if dev is not None else None
        with self._snapshot() as c:
            if hit is None:
                dev = self._find_device(c, campus, device)
                if dev is None:
                    return None
                hit = self._newest(c, dev)
                if hit is None:
                    return None
            ts, sids, values = hit
            names = _series_names(c, sids)
        return float(ts), {names[s]: v for s, v in zip(sids, values, strict=True) if s in names}

    def _newest(self, c: sqlite3.Connection, dev: int) -> tuple[int, list[int], list[float]] | None:
        row = c.execute(
            "SELECT ts, data FROM head WHERE device_id=? ORDER BY ts DESC, seq DESC LIMIT 1", (dev,)
        ).fetchone()
        block = c.execute(
            "SELECT data FROM blocks WHERE key>=? AND key<=? ORDER BY key DESC LIMIT 1",
            (block_key(dev, 0), block_key(dev, _HOUR_MASK)),
        ).fetchone()
        best: tuple[int, list[int], list[float]] | None = None
        if row is not None:
            sids, values = _unpack_head(row[1])
            best = (int(row[0]), list(sids), list(values))
        if block is not None:
            ts, by_sid = raw_last(block[0])
            if best is None or ts > best[0]:
                best = (ts, list(by_sid), list(by_sid.values()))
        return best

    def series(
        self,
        campus: str,
        device: str,
        name: str,
        *,
        since: float,
        until: float | None = None,
        step: float | None = None,
        labels: Mapping[str, str] | None = None,
        agg: str = "avg",
    ) -> list[SeriesPoint]:
        check_agg(agg)
        until = self.clock() if until is None else until
        if until < since:
            raise MetricStoreError("until is before since")
        step = choose_step(since, until, step)
        use_rollups = step >= ROLLUP_STEP
        if use_rollups:
            step = math.ceil(step / ROLLUP_STEP) * ROLLUP_STEP
        start = math.floor(since / step) * step
        binner = Binner(start, until, step)
        with self._snapshot() as c:
            dev = self._find_device(c, campus, device)
            if dev is None:
                return []
            wanted = {
                int(sid)
                for sid, lb in c.execute(
                    "SELECT id, labels FROM series WHERE device_id=? AND name=?", (dev, name)
                )
                if not labels or _has_labels(lb, labels)
            }
            if not wanted:
                return []
            lo = block_key(dev, int(start) // HOUR)
            hi = block_key(dev, min(int(until) // HOUR, _HOUR_MASK))
            if use_rollups:
                for key, data in c.execute(
                    "SELECT key, data FROM rollups WHERE key BETWEEN ? AND ?", (lo, hi)
                ):
                    try:
                        decoded = decode_rollup(data, key_hour(key) * HOUR, wanted)
                    except CodecError as exc:
                        _log.error("metrics: rollup %s unreadable, left out of the chart: %s", key, exc)
                        continue
                    for buckets in decoded.values():
                        for bstart, b in buckets.items():
                            binner.bucket(bstart, b)
            else:
                for key, data in c.execute(
                    "SELECT key, data FROM blocks WHERE key BETWEEN ? AND ?", (lo, hi)
                ):
                    try:
                        samples = raw_series(data, wanted)
                    except CodecError as exc:
                        _log.error("metrics: block %s unreadable, left out of the chart: %s", key, exc)
                        continue
                    for ts, _sid, v in samples:
                        binner.sample(ts, v)
            # the head: reports not compacted yet (the current hour, late arrivals)
            for ts, data in c.execute(
                "SELECT ts, data FROM head WHERE device_id=? AND ts>=? AND ts<=?", (dev, int(start), until)
            ):
                sids, values = _unpack_head(data)
                for sid, v in zip(sids, values, strict=True):
                    if sid in wanted:
                        binner.sample(ts, v)
        return binner.points(agg)

    # -- bookkeeping --------------------------------------------------------------------------------
    def report_count(self, campus: str | None = None, device: str | None = None) -> int:
        """Reports stored (within raw retention): all, or of one device."""
        with self._snapshot() as c:
            if campus is not None and device is not None:
                dev = self._find_device(c, campus, device)
                if dev is None:
                    return 0
                (n,) = c.execute("SELECT COUNT(*) FROM reports WHERE device_id=?", (dev,)).fetchone()
            else:
                (n,) = c.execute("SELECT COUNT(*) FROM reports").fetchone()
        return int(n)

    def seqs(self, campus: str, device: str) -> list[int]:
        """Sequence numbers of a device's stored reports, in the order they were received."""
        with self._snapshot() as c:
            dev = self._find_device(c, campus, device)
            if dev is None:
                return []
            rows = c.execute(
                "SELECT seq FROM reports WHERE device_id=? ORDER BY ts + delay, seq", (dev,)
            ).fetchall()
        return [int(r[0]) for r in rows]

    def storage_info(self) -> StorageInfo:
        with self._snapshot() as c:
            (devices,) = c.execute("SELECT COUNT(*) FROM devices").fetchone()
            (series,) = c.execute("SELECT COUNT(*) FROM series").fetchone()
            (reports,) = c.execute("SELECT COUNT(*) FROM reports").fetchone()
            (b_samples,) = c.execute("SELECT COALESCE(SUM(samples), 0) FROM blocks").fetchone()
            h_reports, h_bytes, h_min, h_max = c.execute(
                "SELECT COUNT(*), COALESCE(SUM(length(data)), 0), MIN(ts), MAX(ts) FROM head"
            ).fetchone()
            blocks = self._hour_range(c, "blocks")
            rollups = self._hour_range(c, "rollups")
            oldest_block = newest_block = None
            if blocks is not None:
                oldest_block = self._block_ts(c, blocks[0], 0)
                newest_block = self._block_ts(c, blocks[1], -1)
        return StorageInfo(
            backend=self.backend,
            path=str(self.path),
            size_bytes=_file_size(self.path),
            devices=int(devices),
            series=int(series),
            reports=int(reports),
            raw_samples=int(b_samples) + int(h_bytes) // 12,
            head_reports=int(h_reports),
            oldest_raw=_min(oldest_block, h_min),
            newest_raw=_max(newest_block, h_max),
            oldest_rollup=None if rollups is None else float(key_hour(rollups[0]) * HOUR),
            newest_rollup=None if rollups is None else float((key_hour(rollups[1]) + 1) * HOUR),
            raw_retention_days=self.raw_retention_days,
            rollup_retention_days=self.rollup_retention_days,
            rollup_step_seconds=ROLLUP_STEP,
        )

    def _block_ts(self, c: sqlite3.Connection, key: int, index: int) -> float:
        """The first (0) or last (-1) report time in a block."""
        (data,) = c.execute("SELECT data FROM blocks WHERE key=?", (key,)).fetchone()
        try:
            return float(decode_raw(data).ts[index])
        except (CodecError, IndexError):
            return float(key_hour(key) * HOUR)

    def _hour_range(self, c: sqlite3.Connection, table: str) -> tuple[int, int] | None:
        """The keys of the oldest and the newest hour in `table` over all devices (seeks, no scan)."""
        oldest: int | None = None
        newest: int | None = None
        for (dev,) in c.execute("SELECT id FROM devices").fetchall():
            bounds = (block_key(dev, 0), block_key(dev, _HOUR_MASK))
            first = c.execute(
                f"SELECT key FROM {table} WHERE key BETWEEN ? AND ? ORDER BY key LIMIT 1",
                bounds,
            ).fetchone()
            if first is None:
                continue
            (last,) = c.execute(
                f"SELECT key FROM {table} WHERE key BETWEEN ? AND ? ORDER BY key DESC LIMIT 1",
                bounds,
            ).fetchone()
            lo, hi = int(first[0]), int(last)
            if oldest is None or key_hour(lo) < key_hour(oldest):
                oldest = lo
            if newest is None or key_hour(hi) > key_hour(newest):
                newest = hi
        return None if oldest is None or newest is None else (oldest, newest)


@dataclass(frozen=True, slots=True)
class _EncodedHour:
    reports: int
    samples: int
    block: bytes
    rollup: bytes
    series: tuple[int, ...]


def _encode_hour(hour: int, rows: RawRows) -> _EncodedHour | None:
    """One device-hour as its compressed block and its 5-minute rollup (None: no reports)."""
    rows = rows.sorted()
    if not rows.ts:
        return None
    scales = {sid: decimal_scale(values) for sid, (_, values) in rows.columns.items()}
    buckets: dict[int, dict[int, Bucket]] = {
        sid: rollup_buckets([rows.ts[i] for i in present], values, ROLLUP_STEP, scales[sid])
        for sid, (present, values) in rows.columns.items()
    }
    return _EncodedHour(
        len(rows.ts),
        rows.samples,
        encode_raw(rows, scales=scales),
        encode_rollup(hour * HOUR, ROLLUP_STEP, buckets),
        tuple(rows.columns),
    )


def _store_hour(cur: sqlite3.Cursor, key: int, hour: int, e: _EncodedHour) -> None:
    cur.execute(
        "INSERT OR REPLACE INTO blocks (key, reports, samples, data) VALUES (?, ?, ?, ?)",
        (key, e.reports, e.samples, e.block),
    )
    cur.execute("INSERT OR REPLACE INTO rollups (key, data) VALUES (?, ?)", (key, e.rollup))
    cur.executemany(
        "UPDATE series SET last_hour=? WHERE id=? AND last_hour<?", [(hour, sid, hour) for sid in e.series]
    )


def _copy_row(src: RawRows, i: int, dst: RawRows) -> None:
    sids: list[int] = []
    values: list[float] = []
    for sid, (present, col) in src.columns.items():
        # present is sorted: a bisect keeps bulk loads linear enough
        j = _index(present, i)
        if j is not None:
            sids.append(sid)
            values.append(col[j])
    dst.add(src.ts[i], src.seq[i], sids, values)


def _index(sorted_rows: list[int], row: int) -> int | None:
    from bisect import bisect_left

    j = bisect_left(sorted_rows, row)
    return j if j < len(sorted_rows) and sorted_rows[j] == row else None


def _series_names(c: sqlite3.Connection, sids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(sids))
    out: dict[int, str] = {}
    for i in range(0, len(ids), 500):
        chunk = ids[i : i + 500]
        marks = ",".join("?" * len(chunk))
        for sid, name, labels in c.execute(
            f"SELECT id, name, labels FROM series WHERE id IN ({marks})",
            chunk,
        ):
            out[int(sid)] = series_key(name, labels)
    return out


def _has_labels(stored: str, wanted: Mapping[str, str]) -> bool:
    have = parse_labels(stored)
    return all(have.get(k) == v for k, v in wanted.items())


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)


def _file_size(path: Path) -> int:
    total = 0
    for p in (path, Path(f"{path}-wal")):
        try:
            total += p.stat().st_size
        except FileNotFoundError:
            continue
    return total


def _create_private(path: Path) -> None:
    """The store's directory 0700 and file 0600 (SQLite's -wal and -shm files too)."""
    private_dir(path.parent)
    private_file(path, sqlite=True)
