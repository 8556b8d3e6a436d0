"""Built-in rules through the ingest pipeline (real SQLite, messages as they arrive from MQTT)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from campusmon.agent.identity import usable_facts
from campusmon.agent.inventory import windows
from campusmon.contract import Event, Inventory, Metrics, Status, encode
from campusmon.hashing import content_hash
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
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.models import DeviceHistory
from campusmon.server.tickets import TicketService
from tests.unit.agent.fakes import FIXTURES

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
    cfg.rules.loss_confirm_seconds = 0  # act on a `lost` at once (the worker's wait is tested elsewhere)
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


def test_a_backlog_is_not_silence_but_a_silent_device_still_is(setup) -> None:
    """A boot storm: everything the server processes is 60 s old (the queue in front of it). The
    devices whose first report still waits in that queue are not silent; a device that really
    stopped reporting still is, its silence counted up to where the reports are."""
    ing, clock = setup
    late = 60.0

    def report(device: str, ts: float) -> None:
        m = Metrics(campus="main", device=device, ts=ts, seq=int(ts - T0 + 1000), interval=10, metrics={})
        ing.handle(f"campusmon/main/{device}/metrics", encode(m), received=clock.now)

    busy = [f"pc-{i}" for i in range(10)]  # their reports keep coming, each one 60 s late
    waiting = [f"panel-{i}" for i in range(5)]  # online; their first report is in the queue
    for d in [*busy, *waiting, "pc-quiet"]:
        status(ing, d, "online", T0)
    report("pc-quiet", T0)  # its last report: then it goes silent (a half-open connection)
    stale_at: float | None = None
    for step in range(16):
        clock.now = T0 + 10 * step
        for d in busy:
            report(d, clock.now - late)
        if clock.now - late == T0 + 10:
            for d in waiting:
                report(d, T0 + 10)  # sent 10 s after they came online, processed only now
        ing.sweep(clock.now)
        if stale_at is None and tickets(ing):
            stale_at = clock.now
    assert ing.report_delay(clock.now) == pytest.approx(late)
    assert tickets(ing) == [("pc-quiet", "report_stale", "", "open")]  # none for the queued ones
    # its 3 x 10 s of silence end 60 s later than without the backlog: as if its reports were queued
    assert stale_at == T0 + 30 + late
    assert ing.snapshot()["sweeps_behind"] > 0  # 60 s late: counted (and logged once a minute)


def test_a_retained_copy_is_late_by_its_wait_here_not_by_its_age(setup) -> None:
    """After a resubscribe the broker hands over retained copies at once, however old they are: how
    late they are processed is the time they waited in our own queue."""
    ing, clock = setup
    old = Metrics(campus="main", device="pc-r", ts=T0 - 86400, seq=1, interval=10, metrics={})
    clock.now = T0 + 40  # it waited 40 s behind others
    ing.handle("campusmon/main/pc-r/metrics", encode(old), received=T0, retained=True)
    assert ing.report_delay(clock.now) == pytest.approx(40.0)
    fresh = Metrics(campus="main", device="pc-s", ts=T0 + 38, seq=1, interval=10, metrics={})
    ing.handle("campusmon/main/pc-s/metrics", encode(fresh), received=T0 + 39)
    assert ing.report_delay(clock.now) == pytest.approx(21.0)  # the median of 40 and 2
    assert ing.report_delay(clock.now + 31) == 0.0  # none in the last 30 s: reports are current


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


def windows_inventory(at: float, mutate: Any = None) -> bytes:
    """The real agent's inventory of a Windows panel (its PowerShell output, recorded), as published."""
    raw = json.loads((FIXTURES / "windows-inventory-panel.json").read_text(encoding="utf-8"))
    data, facts = windows.parse(raw)
    if mutate is not None:
        mutate(data)
    identity = usable_facts(facts)
    return encode(
        Inventory(
            campus="main", device="pc-r", ts=at, hash=content_hash(data), identity=identity, inventory=data
        )
    )


def test_ram_theft_opens_one_inventory_ticket_from_the_register_changes(setup) -> None:
    ing, _ = setup
    topic = "campusmon/main/pc-r/inventory"

    def one_module(inv: dict[str, Any]) -> None:
        inv["memory"]["modules"].pop()
        inv["memory"]["total_bytes"] //= 2

    def renamed(inv: dict[str, Any]) -> None:
        one_module(inv)
        inv["hostname"] = "C302-PANEL-2"

    def no_camera(inv: dict[str, Any]) -> None:
        renamed(inv)
        inv["usb"] = [u for u in inv["usb"] if u["class"] != "Camera"]

    ing.handle(topic, windows_inventory(T0), received=T0)
    ing.handle(topic, windows_inventory(T0 + 1), received=T0 + 1)  # retained again
    assert tickets(ing) == []
    ing.handle(topic, windows_inventory(T0 + 2, one_module), received=T0 + 2)
    (t,) = TicketService(ing.db).list()
    assert (t.problem, t.severity, t.status) == ("inventory_changed", "info", "open")
    assert "memory_module removed: ChannelB-DIMM0 4 GiB M471A5244CB0-CWE serial 41A2B3C5" in t.summary
    history = ing.register.history(1)
    assert [h.field for h in history] == ["created", "inventory.memory_module"]
    ing.handle(topic, windows_inventory(T0 + 3, renamed), received=T0 + 3)  # software only
    ing.handle(topic, windows_inventory(T0 + 4, no_camera), received=T0 + 4)  # the camera goes too
    (t,) = TicketService(ing.db).list()  # still one ticket, which now names the camera as well
    notes = [h.note for h in TicketService(ing.db).get(t.id).history]
    assert any("usb removed: USB Video Device [0c45:6366]" in n for n in notes)
    fields = [h.field for h in ing.register.history(1)]
    assert fields == ["created", "inventory.memory_module", "inventory.hostname", "inventory.usb"]
    assert ing.snapshot()["accepted_inventory"] == 5


def test_inventory_rule_settings_decide(setup) -> None:
    ing, _ = setup
    rule = ing.config.rules.builtin["inventory_changed"]
    rule.ticket, rule.severity = False, "warning"

    def no_ram(inv: dict[str, Any]) -> None:
        inv["memory"]["modules"].pop()

    ing.handle("campusmon/main/pc-r/inventory", windows_inventory(T0), received=T0)
    ing.handle("campusmon/main/pc-r/inventory", windows_inventory(T0 + 1, no_ram), received=T0 + 1)
    assert tickets(ing) == []
    with ing.db.session() as s:
        kinds = [h.kind for h in s.scalars(select(DeviceHistory))]
    assert kinds == ["rule_inventory_changed"]
    assert [h.field for h in ing.register.history(1)][1:] == ["inventory.memory_module"]


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
