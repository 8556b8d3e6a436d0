"""The on-disk report queue: order, bounds, drop accounting, and a kill -9 while writing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campusmon.agent.buffer import ReportBuffer
from tests.unit.agent.fakes import FakeClock


def test_fifo_and_ack(tmp_path: Path) -> None:
    buf = ReportBuffer(tmp_path / "q.sqlite3")
    for i in range(5):
        buf.push("t/metrics", f"r{i}".encode(), retain=i == 4)
    rows = buf.after(0, 3)
    assert [r.payload for r in rows] == [b"r0", b"r1", b"r2"]
    assert [r.payload for r in buf.after(rows[-1].id, 10)] == [b"r3", b"r4"]
    assert buf.after(rows[-1].id, 10)[-1].retain
    buf.ack([rows[0].id, rows[1].id])
    assert len(buf) == 3
    buf.close()
    again = ReportBuffer(tmp_path / "q.sqlite3")
    assert [r.payload for r in again.after(0, 10)] == [b"r2", b"r3", b"r4"]


def test_numbered_push_is_atomic_and_per_device(tmp_path: Path) -> None:
    buf = ReportBuffer(tmp_path / "q.sqlite3")
    assert buf.push_numbered("a", "pc-1", lambda seq: f"{seq}".encode(), first=7) == 7
    assert buf.push_numbered("a", "pc-1", lambda seq: f"{seq}".encode(), first=7) == 8
    assert buf.push_numbered("b", "pc-2", lambda seq: f"{seq}".encode()) == 0

    def broken(seq: int) -> bytes:
        raise ValueError("collector blew up")

    with pytest.raises(ValueError):
        buf.push_numbered("a", "pc-1", broken)
    assert buf.next_seq("pc-1") == 9  # the failed attempt used no number and queued nothing
    assert [r.payload for r in buf.after(0, 10)] == [b"7", b"8", b"0"]


def test_bound_drops_oldest_and_counts_across_restarts(tmp_path: Path) -> None:
    buf = ReportBuffer(tmp_path / "q.sqlite3", max_reports=10)
    for i in range(25):
        buf.push("t", str(i).encode())
    assert len(buf) == 10
    assert [r.payload for r in buf.after(0, 100)] == [str(i).encode() for i in range(15, 25)]
    assert buf.dropped.full == 15
    buf.close()
    buf = ReportBuffer(tmp_path / "q.sqlite3", max_reports=10)
    dropped = buf.take_dropped()
    assert (dropped.full, dropped.expired, dropped.total) == (15, 0, 15)
    assert buf.take_dropped().total == 0
    buf.close()
    assert ReportBuffer(tmp_path / "q.sqlite3").dropped.total == 0


def test_age_limit(tmp_path: Path) -> None:
    clock = FakeClock(1_000_000.0)
    buf = ReportBuffer(tmp_path / "q.sqlite3", max_age_seconds=3600, clock=clock)
    buf.push("t", b"old")
    clock.now += 3601
    buf.push("t", b"new")
    assert [r.payload for r in buf.after(0, 10)] == [b"new"]
    assert buf.dropped.expired == 1


WRITER = """
import sys
from pathlib import Path

import pytest
from campusmon.agent.buffer import ReportBuffer
buf = ReportBuffer(Path(sys.argv[1]), max_reports=500)
i = 0
while True:
    buf.push("campusmon/main/pc/metrics", b"x" * 1500 + str(i).encode())
    i += 1
    if i == 50:
        Path(sys.argv[1] + ".ready").touch()
"""


def test_kill9_while_writing_leaves_a_readable_queue(tmp_path: Path) -> None:
    path = tmp_path / "q.sqlite3"
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(path)], env=dict(os.environ))
    try:
        deadline = time.monotonic() + 30
        while not Path(str(path) + ".ready").exists():
            assert proc.poll() is None and time.monotonic() < deadline, "writer did not start"
            time.sleep(0.02)
        time.sleep(0.3)  # mid-stream: pushes and trims are in progress
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    buf = ReportBuffer(path, max_reports=500)
    assert buf.check() == "ok"
    rows = buf.after(0, 1000)
    assert 50 <= len(rows) <= 500
    numbers = [int(r.payload[1500:]) for r in rows]
    assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))  # contiguous, in order
    buf.push("t", b"after the crash")  # and still writable
    assert buf.after(rows[-1].id, 10)[0].payload == b"after the crash"


def test_messages_held_in_memory_keep_their_place_for_the_sender(tmp_path: Path) -> None:
    """The sender's position (`after(last_id)`) and its acks stay valid when held messages move to disk."""
    buf = ReportBuffer(tmp_path / "q.sqlite3", memory_max=100)
    buf.push("t", b"on-disk")
    pages = buf._db.execute("PRAGMA page_count").fetchone()[0]
    buf._db.execute(f"PRAGMA max_page_count = {pages}")
    n = 0
    while not buf.held:
        n += 1
        buf.push("t", b"x" * 2000 + str(n).encode())
    for i in range(3):
        buf.push("t", f"held-{i}".encode())
    sent = buf.after(0, 100)  # the sender takes everything, disk and memory, in order
    assert [q.payload for q in sent][-3:] == [b"held-0", b"held-1", b"held-2"]
    assert [q.id for q in sent] == sorted(q.id for q in sent)
    buf.ack([sent[-3].id])  # held-0 acknowledged from memory
    buf._db.execute("PRAGMA max_page_count = 1073741823")
    buf.push("t", b"after")  # the held messages reach the disk first, with their ids
    assert buf.held == 0
    assert [q.payload for q in buf.after(sent[-1].id, 10)] == [b"after"]
    buf.ack([sent[-2].id])  # held-1, acknowledged after it moved to disk
    left = [q.payload for q in buf.after(0, 100)]
    assert b"held-0" not in left and b"held-1" not in left
    assert left[-2:] == [b"held-2", b"after"]
    buf.close()
    again = ReportBuffer(tmp_path / "q.sqlite3")
    assert [q.payload for q in again.after(0, 100)][-2:] == [b"held-2", b"after"]
    assert again.check() == "ok"
