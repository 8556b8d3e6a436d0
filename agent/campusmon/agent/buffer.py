"""The durable report queue: a report leaves it only after the broker's PUBACK.

SQLite (standard library) in WAL mode with `synchronous=FULL`: a kill -9 or a power cut while writing
leaves a readable queue. Bounded by count and age; what falls off is counted (persistently) so the agent
can say how many reports were lost in a `buffer_overflow` event.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

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


class ReportBuffer:
    def __init__(
        self,
        path: Path,
        *,
        max_reports: int = 10_000,
        max_age_seconds: float = 7 * 86400,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.max_reports = max_reports
        self.max_age_seconds = max_age_seconds
        self._clock = clock
        path.parent.mkdir(parents=True, exist_ok=True)
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
        return int(self._db.execute("SELECT count(*) FROM queue").fetchone()[0])

    def push(self, topic: str, payload: bytes, *, retain: bool = False) -> None:
        """Append one message, then enforce the bounds (oldest first)."""
        with self._tx():
            self._db.execute(
                "INSERT INTO queue (created, topic, payload, retain) VALUES (?, ?, ?, ?)",
                (self._clock(), topic, payload, int(retain)),
            )
            self._trim()

    def push_numbered(self, topic: str, key: str, build: Callable[[int], bytes], *, first: int = 0) -> int:
        """Take the next sequence number under `key` and queue `build(seq)` in one transaction.

        A crash either keeps both or neither: no report is queued twice, no number is skipped.
        """
        with self._tx():
            seq = self._meta_int(f"seq:{key}", default=first)
            self._db.execute(
                "INSERT INTO queue (created, topic, payload, retain) VALUES (?, ?, ?, 0)",
                (self._clock(), topic, build(seq)),
            )
            self.set_meta(f"seq:{key}", str(seq + 1))
            self._trim()
        return seq

    def next_seq(self, key: str, *, first: int = 0) -> int:
        return self._meta_int(f"seq:{key}", default=first)

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
        """Up to `limit` messages queued after `last_id`, oldest first."""
        rows = self._db.execute(
            "SELECT id, topic, payload, retain FROM queue WHERE id > ? ORDER BY id LIMIT ?", (last_id, limit)
        ).fetchall()
        return [Queued(int(r[0]), str(r[1]), bytes(r[2]), bool(r[3])) for r in rows]

    def ack(self, msg_ids: list[int]) -> None:
        """The broker has them: forget them (one transaction, one fsync)."""
        if msg_ids:
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
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
