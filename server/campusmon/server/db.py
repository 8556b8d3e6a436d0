"""Engine, sessions and schema migrations (Alembic, run at start) for SQLite or PostgreSQL."""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from campusmon.private_files import DIR_MODE, FILE_MODE, private_file, tighten

_log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).parent / "migrations"
#: how long a process waits for another one that is creating or upgrading the schema
MIGRATION_WAIT_SECONDS = 120.0
#: pg_advisory_xact_lock key of schema migrations ("campusmo" in ASCII)
PG_MIGRATION_LOCK = 0x63616D7075736D6F


class DatabaseInitialising(RuntimeError):
    """Another process held the schema migration lock for longer than we wait."""


class DatabaseUnavailable(RuntimeError):
    """The database cannot be reached or opened (a stopped PostgreSQL, a bad URL, an unreadable file)."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite returns naive datetimes; every stored time is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


def make_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
            private_file(Path(path), sqlite=True)
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    return create_engine(url, pool_pre_ping=True)


def _sqlite_path(engine: Engine) -> Path | None:
    db = engine.url.database
    if engine.dialect.name != "sqlite" or not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db)


@contextmanager
def _file_lock(path: Path, wait: float) -> Iterator[None]:
    """An exclusive lock on `path` (created 0600), waiting at most `wait` seconds."""
    if sys.platform == "win32":  # pragma: no cover - the server runs on Linux; no flock there
        yield
        return
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, FILE_MODE)
    tighten(path, FILE_MODE)  # one an older version (or a copy) left open to others
    try:
        deadline = time.monotonic() + wait
        told = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise DatabaseInitialising(
                        f"another campusmon process has been initialising the database for {wait:g} s "
                        f"(lock {path}); try again when the server has started"
                    ) from None
                if not told:
                    _log.warning("waiting: another campusmon process is initialising the database")
                    told = True
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)  # releases the lock


def _pg_lock(conn: Connection, wait: float) -> None:
    """Serialise migrations across processes and hosts: a transaction-scoped advisory lock."""
    conn.execute(text(f"SET LOCAL lock_timeout = '{int(wait * 1000)}ms'"))
    try:
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
    except OperationalError as exc:
        if "lock timeout" in str(exc.orig).lower() or getattr(exc.orig, "sqlstate", "") == "55P03":
            raise DatabaseInitialising(
                f"another campusmon process has been initialising the database for {wait:g} s; "
                "try again when the server has started"
            ) from None
        raise


def migrate(engine: Engine, wait: float = MIGRATION_WAIT_SECONDS) -> None:
    """Bring the schema to the newest revision (idempotent). One process at a time: a file lock next
    to a SQLite database, an advisory lock on PostgreSQL; the others wait, then find nothing to do."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    path = _sqlite_path(engine)
    lock = _file_lock(path.with_name(path.name + ".migrate-lock"), wait) if path else _no_lock()
    with lock, engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            _pg_lock(conn, wait)
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")


@contextmanager
def _no_lock() -> Iterator[None]:
    yield


class Database:
    def __init__(self, url: str, *, run_migrations: bool = True) -> None:
        self.url = url
        self.engine = make_engine(url)
        if run_migrations:
            migrate(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def session(self) -> Iterator[Session]:
        """One transaction: committed on success, rolled back on any error."""
        with self._sessions() as s, s.begin():
            yield s

    def dispose(self) -> None:
        self.engine.dispose()


def open_database(url: str) -> Database:
    """The database with its schema up to date; DatabaseUnavailable (with the driver's reason) when it
    cannot be had, so callers need not know SQLAlchemy's exceptions."""
    from sqlalchemy.exc import OperationalError

    try:
        return Database(url)
    except OperationalError as exc:
        raise DatabaseUnavailable(f"the database is not available: {exc.orig}") from exc
