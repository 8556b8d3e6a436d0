"""Built-in rules through the ingest pipeline (real SQLite, messages as they arrive from MQTT)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from campusmon.contract import Event, Inventory, Metrics, Status, encode
from campusmon.server.config import (
    CampusTopologySettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
    UpstreamSettings,
    static_topology,
)
from campusmon.server.db import Database
from campusmon.server.ingest import Ingestor
from campusmon.server.metrics_store import SqliteMetricStore
from campusmon.server.models import DeviceHistory
from campusmon.server.tickets import TicketService

T0 = 1_800_000_000.0


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Ingestor, Clock]]:
    cfg = ServerConfig(
        storage=StorageSettings(data_dir=tmp_path), schedule=ScheduleSettings(default="always")
    )
    cfg.topology = {
        "main": CampusTopologySettings(
            rooms={"pc-a": "lab", "pc-b": "lab", "sw-1": "lab"},
            upstreams={"pc-a": UpstreamSettings("sw-1"), "pc-b": UpstreamSettings("sw-1")},
        )
    }
    cfg.rules.group_hold_seconds = 5
    db = Database(cfg.storage.db_url)
    store = SqliteMetricStore(cfg.storage.metrics_path)
    clock = Clock()
    yield Ingestor(cfg, db, store, clock=clock), clock
    store.close()
    db.dispose()


def status(ing: Ingestor, device: str, state: str, at: float) -> None:
    msg = Status(campus="main", device=device, ts=at, state=state, interval=10)  # type: ignore[arg-type]
    ing.handle(f"campusmon/main/{device}/status", encode(msg), received=at)


def tickets(ing: Ingestor) -> list[tuple[str, str, str, str]]:
    return [(t.device, t.problem, t.subject, t.status) for t in TicketService(ing.db).list()]


def test_report_stale_opens_for_a_silent_online_device_and_resolves_on_report(setup) -> None:
    ing, clock = setup
    status(ing, "pc-x", "online", T0)
    report = Metrics(campus="main", device="pc-x", ts=T0, seq=1, interval=10, metrics={})
    ing.handle("campusmon/main/pc-x/metrics", encode(report), received=T0)
    ing.sweep(T0 + 29)
    assert tickets(ing) == []
    ing.sweep(T0 + 31)  # 3 x 10 s of silence while "online": a half-open connection
    assert tickets(ing) == [("pc-x", "report_stale", "", "open")]
    ing.sweep(T0 + 40)
    assert len(tickets(ing)) == 1
    clock.now = T0 + 41
    report = Metrics(campus="main", device="pc-x", ts=T0 + 41, seq=2, interval=10, metrics={})
    ing.handle("campusmon/main/pc-x/metrics", encode(report), received=T0 + 41)
    assert tickets(ing) == [("pc-x", "report_stale", "", "resolved")]


def test_peripheral_missing_and_back(setup) -> None:
    ing, _ = setup
    gone = Event(
        campus="main",
        device="c302-panel",
        ts=T0,
        kind="peripheral_removed",
        severity="warning",
        message="document camera unplugged",
        data={"name": "document camera"},
    )
    ing.handle("campusmon/main/c302-panel/events", encode(gone), received=T0)
    ing.handle("campusmon/main/c302-panel/events", encode(gone), received=T0 + 5)
    assert tickets(ing) == [("c302-panel", "peripheral_missing", "document camera", "open")]
    back = Event(
        campus="main",
        device="c302-panel",
        ts=T0 + 60,
        kind="peripheral_added",
        data={"name": "document camera"},
    )
    ing.handle("campusmon/main/c302-panel/events", encode(back), received=T0 + 60)
    assert tickets(ing) == [("c302-panel", "peripheral_missing", "document camera", "resolved")]


def test_inventory_change_of_ram_opens_one_ticket(setup) -> None:
    ing, _ = setup

    def inv(h: str, ram: int, hostname: str = "LAB-PC") -> bytes:
        return encode(
            Inventory(
                campus="main",
                device="pc-r",
                ts=T0,
                hash=h,
                inventory={"hostname": hostname, "memory": {"total_bytes": ram}},
            )
        )

    ing.handle("campusmon/main/pc-r/inventory", inv("h1", 8 << 30), received=T0)
    ing.handle("campusmon/main/pc-r/inventory", inv("h1", 8 << 30), received=T0 + 1)  # retained again
    ing.handle("campusmon/main/pc-r/inventory", inv("h2", 8 << 30, "RENAMED"), received=T0 + 2)  # software
    assert tickets(ing) == []
    ing.handle("campusmon/main/pc-r/inventory", inv("h3", 4 << 30, "RENAMED"), received=T0 + 3)
    (t,) = TicketService(ing.db).list()
    assert t.problem == "inventory_changed" and "memory" in t.summary and t.severity == "info"


def test_switch_down_children_attach_and_switch_recovery_resolves(setup) -> None:
    ing, _ = setup
    for d in ("sw-1", "pc-a", "pc-b"):
        status(ing, d, "online", T0)
    status(ing, "sw-1", "lost", T0 + 10)  # the switch itself is monitored (a probe reports it)
    status(ing, "pc-a", "lost", T0 + 11)
    status(ing, "pc-b", "lost", T0 + 12)
    ing.sweep(T0 + 30)
    (t,) = TicketService(ing.db).list()
    assert t.device == "sw-1" and t.problem in ("device_down", "upstream_down")
    assert [a.device for a in TicketService(ing.db).get(t.id).affected] == ["pc-a", "pc-b"]
    status(ing, "sw-1", "online", T0 + 60)
    assert TicketService(ing.db).get(t.id).status == "resolved"


def test_single_lost_in_a_room_waits_the_hold_then_gets_its_own_ticket(setup) -> None:
    ing, _ = setup
    status(ing, "pc-a", "online", T0)
    status(ing, "pc-a", "lost", T0 + 1)
    ing.sweep(T0 + 3)
    assert tickets(ing) == []  # held: the rest of the room may follow
    ing.sweep(T0 + 7)
    assert tickets(ing) == [("pc-a", "device_down", "", "open")]


def test_rule_with_ticket_false_only_records(setup) -> None:
    ing, _ = setup
    ing.config.rules.builtin["peripheral_missing"].ticket = False
    gone = Event(
        campus="main", device="pc-p", ts=T0, kind="peripheral_removed", data={"name": "touch screen"}
    )
    ing.handle("campusmon/main/pc-p/events", encode(gone), received=T0)
    assert tickets(ing) == []
    with ing.db.session() as s:
        kinds = [h.kind for h in s.scalars(select(DeviceHistory))]
    assert "rule_peripheral_missing" in kinds


def test_slow_room_failure_folds_own_tickets_into_one_room_ticket(setup) -> None:
    ing, _ = setup
    ing.config.topology["main"].rooms.update({"pc-c": "lab"})
    ing.config.topology["main"].upstreams.clear()  # no switch known: the room groups them
    ing.topology = static_topology(ing.config)
    for d in ("pc-a", "pc-b", "pc-c"):
        status(ing, d, "online", T0)
    status(ing, "pc-a", "lost", T0 + 1)
    status(ing, "pc-b", "lost", T0 + 2)
    ing.sweep(T0 + 10)  # held past: each its own ticket
    assert sorted(tickets(ing)) == [("pc-a", "device_down", "", "open"), ("pc-b", "device_down", "", "open")]
    status(ing, "pc-c", "lost", T0 + 30)  # the third within 60 s: one room ticket takes them all
    got = TicketService(ing.db).list(status=["open"])
    assert [(t.problem, t.room) for t in got] == [("room_down", "lab")]
    assert sorted(a.device for a in got[0].affected) == ["pc-a", "pc-b", "pc-c"]
    resolved = TicketService(ing.db).list(status=["resolved"])
    assert all("part of ticket" in TicketService(ing.db).get(t.id).history[-1].note for t in resolved)


def test_sweep_finishes_a_recovery_cut_short_by_a_crash(setup) -> None:
    from campusmon.server.models import Device

    ing, _ = setup
    status(ing, "pc-z", "online", T0)
    status(ing, "pc-z", "lost", T0 + 1)
    assert tickets(ing) == [("pc-z", "device_down", "", "open")]
    with ing.db.session() as s:  # `online` was stored, then the server died before resolving
        s.scalars(select(Device).where(Device.device == "pc-z")).one().state = "online"
    status(ing, "pc-z", "online", T0 + 5)  # the redelivered retained status is a duplicate now
    assert tickets(ing) == [("pc-z", "device_down", "", "open")]
    ing.sweep(T0 + 6)
    assert tickets(ing) == [("pc-z", "device_down", "", "resolved")]
