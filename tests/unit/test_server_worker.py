"""The server's worker: statuses overtake reports, storage failures never block the other lane,
reports keep their order, nothing is acknowledged before it is stored (fake ingestor and client)."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from campusmon.server import service
from campusmon.server.config import ServerConfig, StorageSettings
from campusmon.server.service import Server, _Incoming
from tests.support.mqtt import wait_until


class FakeIngestor:
    def __init__(self) -> None:
        self.handled: list[str] = []
        self.failing: set[str] = set()
        self.counters: dict[str, int] = {}
        self.lock = threading.Lock()

    def handle(self, topic: str, raw: bytes, *, received: float, retained: bool = False) -> str:
        name = raw.decode()
        if any(name.startswith(f) for f in self.failing):
            raise sqlite3.OperationalError("database or disk is full")
        with self.lock:
            self.handled.append(name)
        return "accepted"

    def count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n

    def sweep(self) -> None:
        return None

    def next_due(self) -> float | None:
        return None

    def release_due(self) -> None:
        return None

    def link_down(self, at: float) -> None:
        return None

    def link_up(self, at: float) -> None:
        return None

    def flush_liveness(self) -> None:
        return None


class FakeClient:
    def __init__(self) -> None:
        self.acked: list[int] = []

    def ack(self, mid: int, qos: int) -> None:
        self.acked.append(mid)


@pytest.fixture
def worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[tuple[Server, FakeIngestor, FakeClient]]:
    monkeypatch.setattr(service, "RETRY_FIRST_SECONDS", 0.01)
    monkeypatch.setattr(service, "RETRY_MAX_SECONDS", 0.05)
    srv = Server(ServerConfig(storage=StorageSettings(data_dir=tmp_path)))
    fake = FakeIngestor()
    srv.ingestor = fake  # type: ignore[assignment]
    client = FakeClient()
    thread = threading.Thread(target=srv._work, daemon=True)
    thread.start()
    yield srv, fake, client
    srv._stopped.set()
    srv._lanes.put(None, priority=True)
    thread.join(5)
    assert not thread.is_alive()


def put(srv: Server, client: FakeClient, kind: str, name: str, mid: int) -> None:
    item = _Incoming(f"campusmon/main/pc/{kind}", name.encode(), mid, 1, 0.0, client=client)  # type: ignore[arg-type]
    srv._lanes.put(item, priority=kind in service.PRIORITY_KINDS)


def test_statuses_go_on_while_reports_fail_and_reports_keep_their_order(worker) -> None:
    srv, fake, client = worker
    fake.failing = {"m"}
    for i in range(3):
        put(srv, client, "metrics", f"m{i}", 100 + i)
    put(srv, client, "status", "s0", 1)
    put(srv, client, "events", "e0", 2)
    assert wait_until(lambda: {1, 2} <= set(client.acked), timeout=5)
    assert not {100, 101, 102} & set(client.acked), "a report acknowledged before it was stored"
    assert fake.counters["storage_retry"] >= 1
    fake.failing = set()
    assert wait_until(lambda: len(client.acked) == 5, timeout=5)
    assert [h for h in fake.handled if h.startswith("m")] == ["m0", "m1", "m2"]
    assert client.acked[2:] == [100, 101, 102]


def test_a_status_that_keeps_failing_is_parked_unacknowledged_and_retried(worker) -> None:
    srv, fake, client = worker
    fake.failing = {"s-bad"}
    put(srv, client, "status", "s-bad", 1)
    put(srv, client, "status", "s-ok", 2)
    put(srv, client, "metrics", "m0", 100)
    assert wait_until(lambda: set(client.acked) == {2, 100}, timeout=5), client.acked
    assert fake.counters.get("storage_parked") == 1
    fake.failing = set()
    assert wait_until(lambda: set(client.acked) == {1, 2, 100}, timeout=5), client.acked


def test_dead_letter_takes_a_status_that_keeps_failing(worker) -> None:
    srv, fake, client = worker
    taken: list[tuple[str, bytes, Any]] = []

    def keep(topic: str, payload: bytes, exc: BaseException) -> bool:
        taken.append((topic, payload, exc))
        return True

    srv.dead_letter = keep
    fake.failing = {"s-bad"}
    put(srv, client, "status", "s-bad", 1)
    assert wait_until(lambda: client.acked == [1], timeout=5)
    assert taken[0][1] == b"s-bad" and isinstance(taken[0][2], sqlite3.OperationalError)
    assert fake.counters.get("dead_lettered") == 1


def test_statuses_overtake_queued_reports(worker) -> None:
    srv, fake, client = worker
    fake.failing = {"m"}  # the worker is busy with the reports' head ...
    for i in range(200):
        put(srv, client, "metrics", f"m{i:03d}", 1000 + i)
    put(srv, client, "status", "s-late", 1)  # ... when a status arrives behind 200 reports
    assert wait_until(lambda: 1 in client.acked, timeout=5)
    fake.failing = set()
    assert wait_until(lambda: len(client.acked) == 201, timeout=10)
    assert fake.handled.index("s-late") < fake.handled.index("m001")
