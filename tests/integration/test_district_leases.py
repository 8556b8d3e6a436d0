"""Leases on a real PostgreSQL: workers share the campuses, never hold one twice, take over a dead
worker's campuses once its leases expire, and take released ones at once."""

from __future__ import annotations

import time

from campusmon.server.db import Database
from campusmon.server.district import JOBS, LeaseBook, overview

CAMPUSES = [f"c{i:02d}" for i in range(1, 8)]


def test_leases_share_take_over_and_release(postgres: str) -> None:
    db = Database(postgres)
    try:
        a, b, c = (LeaseBook(db, name, lease_seconds=2.0) for name in ("a", "b", "c"))
        for book in (a, b, c):  # the first round only registers
            assert book.tick(CAMPUSES, acquire=False).campuses == frozenset()
        ticks = {book.worker: book.tick(CAMPUSES) for book in (a, b, c)}
        assert all(t.live_workers == 3 and t.share == 3 for t in ticks.values())
        owned = [set(t.campuses) for t in ticks.values()]
        assert set().union(*owned) == set(CAMPUSES)  # every campus owned ...
        assert sum(len(o) for o in owned) == len(CAMPUSES)  # ... by exactly one worker
        assert sum(len(t.jobs) for t in ticks.values()) == len(JOBS)  # each job on one worker
        assert all(c in CAMPUSES for t in ticks.values() for c in t.campuses)

        # c dies (no more ticks): once its leases expire a and b take its campuses
        dead = set(ticks["c"].campuses)
        time.sleep(2.5)
        after = {book.worker: book.tick(CAMPUSES) for book in (a, b)}
        after = {book.worker: book.tick(CAMPUSES) for book in (a, b)}
        assert all(t.live_workers == 2 and t.share == 4 for t in after.values())
        assert set(after["a"].campuses) | set(after["b"].campuses) == set(CAMPUSES)
        assert not set(after["a"].campuses) & set(after["b"].campuses)
        assert dead <= set(after["a"].campuses) | set(after["b"].campuses)
        workers, _, _ = overview(db)
        assert {w.worker: w.alive for w in workers} == {"a": True, "b": True, "c": False}

        # a leaves cleanly: b takes everything at its next tick, no wait for expiry
        a.leave()
        last = b.tick(CAMPUSES)
        assert last.live_workers == 1 and set(last.campuses) == set(CAMPUSES)
        assert b.holds("c01") and not a.holds("c01")
        workers, _, _ = overview(db)
        assert [w.worker for w in workers if w.stopped] == ["a"]
    finally:
        db.dispose()


def test_a_worker_above_its_share_sheds(postgres: str) -> None:
    db = Database(postgres)
    try:
        a, b = LeaseBook(db, "a", 30.0), LeaseBook(db, "b", 30.0)
        a.tick(CAMPUSES, acquire=False)
        assert set(a.tick(CAMPUSES).campuses) == set(CAMPUSES)  # alone: everything
        b.tick(CAMPUSES, acquire=False)  # b registers: a's share drops to 4
        t = a.tick(CAMPUSES)
        assert t.share == 4 and len(t.shed) == 3
        assert not b.tick(CAMPUSES).campuses  # nothing free until a hands them back
        a.release(t.shed)
        assert set(b.tick(CAMPUSES).campuses) == set(t.shed)
    finally:
        db.dispose()
