"""The durable report queue: a report leaves it only after the broker's PUBACK.

SQLite (standard library) in WAL mode with `synchronous=FULL`: a kill -9 or a power cut while writing
leaves a readable queue. Bounded by count and age; what falls off is counted (persistently) so the agent
can say how many reports were lost in a `buffer_overflow` event.

When the disk refuses a write (full, read-only, broken), the message waits in memory instead, up to
`memory_max` messages (the oldest go first past that), and is sent from there or moved to disk by the
first write the disk takes again. Sequence numbers keep counting through it, so nothing goes missing
unseen: what was lost is a gap in `seq`, and `take_failures()` says how many and which numbers for the
agent's `buffer_error` event. Messages in memory take the ids the queue would have given them, so the
sender's position and acknowledgements stay valid when they move to disk.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from campusmon.private_files import private_dir, private_file

_log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    retain INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Queued:
    """A queued message, as the sender hands it to paho."""

    id: int
    topic: str
    payload: bytes
    retain: bool


@dataclass(frozen=True, slots=True)
class Dropped:
    """Reports dropped since the last `buffer_overflow` event."""

    full: int
    expired: int

    @property
    def total(self) -> int:
        return self.full + self.expired


class BufferUnavailable(RuntimeError):
    """The queue file cannot be opened or used (disk full, permission, not a database)."""


#: at most this many lost-seq ranges in one event (the rest are counted, and merged into the last)
MAX_LOST_RANGES = 50
#: while the disk keeps failing, a new `buffer_error` at most this often (seconds)
FAILURE_REPORT_EVERY = 300.0


@dataclass(slots=True)
class _Held:
    """A message the disk refused, waiting in memory."""

    id: int
    created: float
    topic: str
    payload: bytes
    retain: bool
    seq: int | None


@dataclass
class WriteFailures:
    """Writes the disk refused since the last `buffer_error` event."""

    error: str
    first_at: float
    last_at: float
    #: messages the disk refused (each went to memory, or was lost when memory was full)
    failed: int = 0
    #: reports (metrics) lost: memory was full; their numbers are in lost_seq
    lost_reports: int = 0
    #: other messages (events, inventory) lost
    lost_other: int = 0
    #: [first, last] ranges of the lost reports' seq, oldest first
    lost_seq: list[list[int]] = field(default_factory=list)
    #: the disk took a write again since
    recovered: bool = False

    def lose(self, seq: int | None) -> None:
        if seq is None:
            self.lost_other += 1
            return
        self.lost_reports += 1
        if self.lost_seq and self.lost_seq[-1][1] == seq - 1:
            self.lost_seq[-1][1] = seq
        elif len(self.lost_seq) < MAX_LOST_RANGES:
            self.lost_seq.append([seq, seq])
        else:
            self.lost_seq[-1][1] = max(self.lost_seq[-1][1], seq)

    def as_data(self) -> dict[str, Any]:
        return {
            "error": self.error,
            "failed_writes": self.failed,
            "lost_reports": self.lost_reports,
            "lost_seq": self.lost_seq,
            "lost_other": self.lost_other,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "disk_ok": self.recovered,
        }

    def message(self) -> str:
        if not self.failed:
            return "the report buffer's disk takes writes again"
        lost = self.lost_reports + self.lost_other
        where = "written to disk again" if self.recovered else "held in memory"
        text = f"the report buffer's disk refused {self.failed} write(s) ({self.error})"
        if not lost:
            return f"{text}; nothing lost, {where}"
        ranges = ", ".join(f"{a}" if a == b else f"{a}-{b}" for a, b in self.lost_seq)
        return f"{text}; {lost} message(s) lost (report seq {ranges or 'none'}), the rest {where}"


class ReportBuffer:
    def __init__(
        self,
        path: Path,
        *,
        max_reports: int = 10_000,
        max_age_seconds: float = 7 * 86400,
        memory_max: int = 1000,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_reports = max_reports
        self.max_age_seconds = max_age_seconds
        self.memory_max = memory_max
        self._clock = clock
        self._held: deque[_Held] = deque()
        #: next sequence number per key while the disk cannot store it
        self._seq_next: dict[str, int] = {}
        self._failures: WriteFailures | None = None
        self._failures_told_at: float | None = None
        try:
            private_dir(path.parent)
            private_file(path, sqlite=True)
        except OSError as exc:
            raise BufferUnavailable(f"report buffer {path}: {exc}") from exc
        try:
            self._db = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.executescript(_SCHEMA)
        except sqlite3.DatabaseError as exc:
            raise BufferUnavailable(f"report buffer {path}: {exc}") from exc
        self._dropped = Dropped(self._meta_int("dropped_full"), self._meta_int("dropped_expired"))

    def close(self) -> None:
        self._db.close()

    def __len__(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM queue").fetchone()[0]) + len(self._held)

    @property
    def held(self) -> int:
        """Messages waiting in memory because the disk refused them."""
        return len(self._held)

    def push(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Append one message, then enforce the bounds (oldest first); in memory if the disk refuses."""
        try:
            with self._tx():
                self._write_held()
                self._db.execute(
                    "INSERT INTO queue (created, topic, payload, retain) VALUES (?, ?, ?, ?)",
                    (self._clock(), topic, payload, int(retain)),
                )
                self._trim()
        except sqlite3.DatabaseError as exc:
            self._hold(topic, payload, retain, None, exc)
            return
        self._disk_took_it()

    def push_numbered(self, topic: str, key: str, build: Callable[[int], bytes], *, first: int = 0) -> int:
        """Take the next sequence number under `key` and queue `build(seq)` in one transaction.

        A crash either keeps both or neither: no report is queued twice, no number is skipped. When
        the disk refuses the write the number is used all the same (the report waits in memory).
        """
        seq = self.next_seq(key, first=first)
        payload = build(seq)
        self._seq_next[key] = seq + 1
        try:
            with self._tx():
                self._write_held()
                self._db.execute(
                    "INSERT INTO queue (created, topic, payload, retain) VALUES (?, ?, ?, 0)",
                    (self._clock(), topic, payload),
                )
                self.set_meta(f"seq:{key}", str(seq + 1))
                self._trim()
        except sqlite3.DatabaseError as exc:
            self._hold(topic, payload, False, seq, exc)
            return seq
        self._disk_took_it()
        return seq

    def next_seq(self, key: str, *, first: int = 0) -> int:
        return max(self._meta_int(f"seq:{key}", default=first), self._seq_next.get(key, first))

    # --- when the disk refuses -------------------------------------------------------------------

    def _next_id(self) -> int:
        """The id the queue would give the next row (AUTOINCREMENT never reuses one)."""
        if self._held:
            return self._held[-1].id + 1
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'queue'").fetchone()
        return (int(row[0]) if row else 0) + 1

    def _hold(self, topic: str, payload: bytes, retain: bool, seq: int | None, exc: Exception) -> None:
        now = self._clock()
        if self._failures is None or self._failures.recovered:
            if self._failures is None:
                self._failures = WriteFailures(str(exc), now, now)
            self._failures.recovered = False
            _log.error(
                "report buffer %s: the disk refused a write (%s); holding up to %d messages in memory",
                self.path,
                exc,
                self.memory_max,
            )
        f = self._failures
        f.error, f.last_at, f.failed = str(exc), now, f.failed + 1
        try:
            msg_id = self._next_id()
        except sqlite3.DatabaseError:
            msg_id = (self._held[-1].id + 1) if self._held else 1
        self._held.append(_Held(msg_id, now, topic, payload, retain, seq))
        while len(self._held) > self.memory_max:
            lost = self._held.popleft()
            f.lose(lost.seq)
            _log.warning("report buffer: memory full too, lost %s (seq %s)", lost.topic, lost.seq)

    def _write_held(self) -> None:
        """Inside a write transaction: the held messages go to disk first, with their ids and order."""
        if not self._held:
            return
        self._db.executemany(
            "INSERT INTO queue (id, created, topic, payload, retain) VALUES (?, ?, ?, ?, ?)",
            [(h.id, h.created, h.topic, h.payload, int(h.retain)) for h in self._held],
        )
        for key, nxt in self._seq_next.items():
            if nxt > self._meta_int(f"seq:{key}"):
                self.set_meta(f"seq:{key}", str(nxt))

    def _disk_took_it(self) -> None:
        if self._held:
            _log.warning(
                "report buffer: the disk takes writes again; %d held messages stored", len(self._held)
            )
            self._held.clear()
        if self._failures is not None and not self._failures.recovered:
            self._failures.recovered = True

    def failures_due(self) -> bool:
        """A `buffer_error` event is due: the disk refused writes, and either takes them again, or this
        is the first word of it, or the last word is FAILURE_REPORT_EVERY old."""
        f = self._failures
        if f is None or not (f.failed or f.recovered):
            return False
        told = self._failures_told_at
        return f.recovered or told is None or self._clock() - told >= FAILURE_REPORT_EVERY

    def take_failures(self) -> WriteFailures | None:
        """What to say in a `buffer_error` event; the counts start again from zero."""
        f = self._failures
        if f is None:
            return None
        self._failures_told_at = None if f.recovered else self._clock()
        if f.recovered:
            self._failures = None
        else:  # still failing: keep counting from here
            self._failures = WriteFailures(f.error, self._clock(), self._clock())
        return f

    def _trim(self) -> None:
        expired = self._db.execute(
            "DELETE FROM queue WHERE created < ?", (self._clock() - self.max_age_seconds,)
        ).rowcount
        excess = len(self) - self.max_reports
        full = 0
        if excess > 0:
            full = self._db.execute(
                "DELETE FROM queue WHERE id IN (SELECT id FROM queue ORDER BY id LIMIT ?)", (excess,)
            ).rowcount
        if expired or full:
            _log.warning("report buffer full/expired: dropped %d oldest, %d too old", full, expired)
            self._dropped = Dropped(self._dropped.full + full, self._dropped.expired + expired)
            self.set_meta("dropped_full", str(self._dropped.full))
            self.set_meta("dropped_expired", str(self._dropped.expired))

    def after(self, last_id: int, limit: int) -> list[Queued]:
        """Up to `limit` messages queued after `last_id`, oldest first (disk, then memory)."""
        rows = self._db.execute(
            "SELECT id, topic, payload, retain FROM queue WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
        ).fetchall()
        out = [Queued(int(r[0]), str(r[1]), bytes(r[2]), bool(r[3])) for r in rows]
        for h in self._held:
            if len(out) >= limit:
                break
            if h.id > last_id:
                out.append(Queued(h.id, h.topic, h.payload, h.retain))
        return out

    def ack(self, msg_ids: list[int]) -> None:
        """The broker has them: forget them (one transaction, one fsync)."""
        if not msg_ids:
            return
        if self._held:
            done = set(msg_ids)
            self._held = deque(h for h in self._held if h.id not in done)
        with self._tx():
            self._db.executemany("DELETE FROM queue WHERE id = ?", [(i,) for i in msg_ids])

    @property
    def dropped(self) -> Dropped:
        """Dropped since the last `take_dropped()` (kept across restarts)."""
        return self._dropped

    def take_dropped(self) -> Dropped:
        dropped = self._dropped
        if dropped.total:
            self._db.execute("DELETE FROM meta WHERE key IN ('dropped_full', 'dropped_expired')")
            self._dropped = Dropped(0, 0)
        return dropped

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", (key, value))

    def _meta_int(self, key: str, default: int = 0) -> int:
        value = self.get_meta(key)
        try:
            return int(value) if value is not None else default
        except ValueError:
            return default

    def _tx(self) -> _Transaction:
        return _Transaction(self._db)

    def check(self) -> str:
        """SQLite's own integrity check ('ok' when the file is sound)."""
        return str(self._db.execute("PRAGMA integrity_check").fetchone()[0])


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is not None:
            self._rollback()
            return
        try:
            self._db.execute("COMMIT")
        except sqlite3.DatabaseError:  # e.g. the disk filled up between the writes and the commit
            self._rollback()
            raise

    def _rollback(self) -> None:
        if self._db.in_transaction:
            try:
                self._db.execute("ROLLBACK")
            except sqlite3.DatabaseError as exc:  # SQLite may have rolled back by itself
                _log.debug("rollback: %s", exc)
