"""Inspections against a real database, fed through the ingest pipeline like a running server."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from campusmon.contract import Event, Metrics, Status, encode
from campusmon.server.config import (
    ChannelSettings,
    NotifySettings,
    RouteSettings,
    ScheduleSettings,
    ServerConfig,
    StorageSettings,
)
from campusmon.server.db import Database
from campusmon.server.ingest import Ingestor
from campusmon.server.inspections.live import StoreLatest
from campusmon.server.inspections.models import InspectionMark
from campusmon.server.inspections.plans import load_plans
from campusmon.server.inspections.service import InspectionError, InspectionService
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.models import NotifyOutbox, Ticket
from campusmon.server.notify import Router
from campusmon.server.register.models import Asset
from campusmon.server.register.service import RegisterService

TZ = ZoneInfo("Asia/Shanghai")
#: Monday 2026-11-02 09:00 in Shanghai
T0 = datetime(2026, 11, 2, 9, 0, tzinfo=TZ).timestamp()


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


@dataclass
class World:
    ing: Ingestor
    svc: InspectionService
    clock: Clock
    db: Database


def _asset(s, reg: RegisterService, room, tag: str, kind: str, device: str | None, at: datetime) -> None:
    a = reg.create(
        s,
        "user:admin",
        at,
        asset_tag=tag,
        name=tag,
        type=kind,
        status="in_use",
        campus_id=room.building.campus.id,
    )
    a.room = room
    if device:
        a.link_campus, a.link_device = "main", device


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    cfg = ServerConfig(
        storage=StorageSettings(data_dir=tmp_path), schedule=ScheduleSettings(default="always")
    )
    cfg.notify = NotifySettings(
        channels={"hook": ChannelSettings(kind="webhook", url="http://127.0.0.1:9/")},
        routes=[RouteSettings(channels=["hook"])],
    )
    db = Database(cfg.storage.db_url)
    store = SqliteMetricStore(cfg.storage.metrics_path)
    clock = Clock()
    ing = Ingestor(cfg, db, store, clock=clock, on_event=Router(cfg.notify))
    reg = ing.register
    created = datetime.fromtimestamp(T0, UTC) - timedelta(days=40)
    with db.session() as s:
        c302 = reg.ensure_room(s, "主校区", "A楼", "302")
        c303 = reg.ensure_room(s, "主校区", "A楼", "303")
        cab = reg.ensure_room(s, "主校区", "A楼", "机房")
        c302.building.campus.code = "main"
        _asset(s, reg, c302, "A302-PANEL", "panel", "c302-panel", created)
        _asset(s, reg, c302, "A302-PROJ", "projector", None, created)
        _asset(s, reg, c303, "A303-PANEL", "panel", "c303-panel", created)
        _asset(s, reg, cab, "SW-A1", "switch", "sw-a1", created)
    svc = InspectionService(db, load_plans(), ing.tickets, tz=TZ, latest=StoreLatest(store), clock=clock)
    yield World(ing, svc, clock, db)
    store.close()
    db.dispose()


def _send(w: World, device: str, kind: str, msg: object) -> None:
    w.ing.handle(f"campusmon/main/{device}/{kind}", encode(msg), received=w.clock.now)  # type: ignore[arg-type]


def _panel_reports(w: World, device: str, camera: int, seq: int) -> None:
    _send(
        w, device, "status", Status(campus="main", device=device, ts=w.clock.now, state="online", interval=30)
    )
    _send(
        w,
        device,
        "metrics",
        Metrics(
            campus="main",
            device=device,
            ts=w.clock.now,
            seq=seq,
            interval=30,
            metrics={
                "peripherals": {
                    "display_connected_count": 1,
                    "touchscreen_count": 1,
                    "usb_camera_count": camera,
                }
            },
        ),
    )


def _unplug_camera(w: World, device: str) -> None:
    _send(
        w,
        device,
        "events",
        Event(
            campus="main",
            device=device,
            ts=w.clock.now,
            kind="peripheral_removed",
            severity="warning",
            message="document camera (USB video): 1 -> 0",
            data={"peripheral": "usb_camera", "before": 1, "now": 0},
        ),
    )


def _tickets(w: World, problem: str) -> list[Ticket]:
    with w.db.session() as s:
        return list(s.scalars(select(Ticket).where(Ticket.problem == problem).order_by(Ticket.id)))


def test_unplugged_document_camera_is_prefilled_failed_and_finishing_notes_the_open_ticket(
    world: World,
) -> None:
    w = world
    _panel_reports(w, "c302-panel", camera=1, seq=1)
    w.clock.now += 60
    _unplug_camera(w, "c302-panel")
    _panel_reports(w, "c302-panel", camera=0, seq=2)
    (missing,) = _tickets(w, "peripheral_missing")
    assert (missing.device, missing.subject, missing.status, missing.source) == (
        "c302-panel",
        "usb_camera",
        "open",
        "automatic",
    )

    w.clock.now += 3600
    _panel_reports(w, "c302-panel", camera=0, seq=3)  # it keeps reporting; the technician arrives
    insp = w.svc.start(actor="tech:wang", room="主校区/A楼/302")
    items = {(i.asset, i.key): i for i in insp.items}
    camera = items[("A302-PANEL", "document_camera")]
    assert camera.prefill == "fail"
    assert camera.known_ticket_id == missing.id
    assert f"ticket #{missing.id}" in camera.evidence
    assert items[("A302-PANEL", "online")].prefill == "pass"
    assert items[("A302-PANEL", "touch")].prefill == "pass"  # touchscreen_count = 1 in the last report
    assert items[("A302-PANEL", "picture")].prefill is None  # only a person can tell
    assert items[("A302-PROJ", "picture")].prefill is None
    assert {i.asset for i in insp.items} == {"A302-PANEL", "A302-PROJ"}

    # starting again (the phone page reloaded) resumes the same round
    assert w.svc.start(actor="tech:wang", room="A楼/302").id == insp.id

    with pytest.raises(InspectionError, match="not checked yet"):
        w.svc.finish(insp.id, actor="tech:wang")
    for i in insp.items:
        if i.prefill is None:
            w.svc.record(insp.id, f"{i.asset}:{i.key}", "pass", actor="tech:wang")
    w.svc.record(insp.id, "document_camera", "fail", actor="tech:wang", note="USB cable cut", photo="p/1.jpg")
    done = w.svc.finish(insp.id, actor="tech:wang")

    assert done.status == "done"
    assert done.tickets == {missing.id: False}  # noted, not opened
    (still,) = _tickets(w, "peripheral_missing")
    assert still.id == missing.id and still.status == "open"
    full = w.ing.tickets.get(missing.id)
    notes = [h for h in full.history if h.action == "note"]
    assert len(notes) == 1 and "USB cable cut" in notes[0].note and f"inspection #{insp.id}" in notes[0].note
    assert notes[0].actor == "tech:wang"
    camera_done = next(i for i in done.items if i.key == "document_camera")
    assert camera_done.ticket_id == missing.id and camera_done.result == "fail"
    with w.db.session() as s:
        made = s.scalars(select(Ticket.problem).where(Ticket.source == "inspection")).all()
    assert set(made) <= {"inspection_overdue"}  # the other rooms' reminders; no second camera ticket


def test_a_failed_physical_item_opens_an_inspection_ticket_once(world: World) -> None:
    w = world
    for round_ in range(2):
        _panel_reports(w, "c303-panel", camera=1, seq=round_ + 1)
        insp = w.svc.start(actor="tech:li", room="303")
        w.svc.record(insp.id, "sound", "fail", actor="tech:li", note=f"left speaker silent ({round_})")
        done = w.svc.finish(insp.id, actor="tech:li", skip_rest=True)
        w.clock.now += 86400
        (ticket,) = _tickets(w, "inspection_failed")
        assert (ticket.device, ticket.subject, ticket.source, ticket.status) == (
            "c303-panel",
            "sound",
            "inspection",
            "open",
        )
        assert done.tickets == {ticket.id: round_ == 0}
    skipped = [i for i in done.items if i.result == "skip"]
    assert {i.key for i in skipped} == {"picture", "cables"}  # no live data for them
    camera = next(i for i in done.items if i.key == "document_camera")
    assert camera.result == "pass" and camera.note.startswith("from live data")


def test_unlinked_asset_failure_is_a_room_ticket_on_its_campus(world: World) -> None:
    w = world
    insp = w.svc.start(actor="tech:li", room="302")
    w.svc.record(insp.id, "A302-PROJ:remote", "fail", actor="tech:li", note="battery flat")
    w.svc.finish(insp.id, actor="tech:li", skip_rest=True)
    (ticket,) = _tickets(w, "inspection_failed")
    assert (ticket.campus, ticket.device, ticket.subject, ticket.room) == (
        "main",
        "",
        "A302-PROJ: remote",
        "A楼/302",
    )


def _marks(w: World) -> dict[str, tuple[date, date]]:
    with w.db.session() as s:
        return {
            f"{m.plan}/{m.target}": (m.last_done_on, m.next_due_on) for m in s.scalars(select(InspectionMark))
        }


def test_finishing_stamps_room_and_assets_and_due_follows_the_interval(world: World) -> None:
    w = world
    created = date(2026, 9, 23)  # the assets were registered 40 days before T0
    before = {(e.target.plan, e.target.place): e for e in w.svc.schedule()}
    room302 = before[("classroom_multimedia", "主校区/A楼/302")]
    assert (room302.last_done, room302.next_due, room302.status) == (None, created, "overdue")
    switch = before[("network_cabinet", "主校区/A楼/机房 SW-A1")]
    assert switch.next_due == created and switch.target.kind == "asset"

    w.clock.now = datetime(2026, 11, 3, 16, 0, tzinfo=TZ).timestamp()
    insp = w.svc.start(actor="tech:wang", room="302")
    assert insp.due_on == created
    w.svc.finish(insp.id, actor="tech:wang", skip_rest=True)
    sw = w.svc.start(actor="tech:wang", asset="SW-A1")
    w.svc.finish(sw.id, actor="tech:wang", skip_rest=True)

    marks = _marks(w)
    with w.db.session() as s:
        ids = {a.asset_tag: a.id for a in s.scalars(select(Asset))}
        room_id = s.scalars(select(Asset.room_id).where(Asset.asset_tag == "A302-PANEL")).one()
    nov3 = date(2026, 11, 3)
    assert marks[f"classroom_multimedia/room:{room_id}"] == (nov3, date(2026, 12, 3))
    assert marks[f"classroom_multimedia/asset:{ids['A302-PANEL']}"] == (nov3, date(2026, 12, 3))
    assert marks[f"classroom_multimedia/asset:{ids['A302-PROJ']}"] == (nov3, date(2026, 12, 3))
    assert marks[f"network_cabinet/asset:{ids['SW-A1']}"] == (nov3, date(2026, 11, 10))
    assert f"classroom_multimedia/asset:{ids['A303-PANEL']}" not in marks

    def status_on(day: date) -> dict[str, str]:
        return {
            f"{e.target.plan} {e.target.place}": e.status for e in w.svc.schedule(today=day, within_days=3)
        }

    assert status_on(date(2026, 11, 6)) == {
        "classroom_multimedia 主校区/A楼/302": "ok",
        "classroom_multimedia 主校区/A楼/303": "overdue",
        "network_cabinet 主校区/A楼/机房 SW-A1": "ok",
    }
    assert status_on(date(2026, 11, 7))["network_cabinet 主校区/A楼/机房 SW-A1"] == "due"
    assert status_on(date(2026, 11, 10))["network_cabinet 主校区/A楼/机房 SW-A1"] == "due"
    assert status_on(date(2026, 11, 11))["network_cabinet 主校区/A楼/机房 SW-A1"] == "overdue"
    assert status_on(date(2026, 12, 3))["classroom_multimedia 主校区/A楼/302"] == "due"
    assert status_on(date(2026, 12, 4))["classroom_multimedia 主校区/A楼/302"] == "overdue"
    assert [e.target.place for e in w.svc.overdue(today=date(2026, 11, 6))] == ["主校区/A楼/303"]


def test_overdue_inspections_notify_once_per_campus_and_plan_and_resolve_when_done(world: World) -> None:
    w = world
    opened = w.svc.check_overdue()
    tickets = _tickets(w, "inspection_overdue")
    assert [t.subject for t in tickets] == ["classroom_multimedia", "network_cabinet"]
    assert sorted(opened) == [t.id for t in tickets]
    assert all(t.source == "inspection" and t.campus == "main" and t.device == "" for t in tickets)
    assert "2 (since 2026-09-23)" in tickets[0].summary
    with w.db.session() as s:
        rows = s.scalars(select(NotifyOutbox).where(NotifyOutbox.event == "opened")).all()
        assert sorted(r.ticket_id for r in rows) == sorted(opened)
    assert w.svc.check_overdue() == []  # no second reminder while one is open
    for room in ("302", "303"):
        insp = w.svc.start(actor="tech:li", room=room)
        w.svc.finish(insp.id, actor="tech:li", skip_rest=True)
        if room == "302":
            (t,) = [t for t in _tickets(w, "inspection_overdue") if t.subject == "classroom_multimedia"]
            assert t.status == "open" and ": 1 (since" in t.summary
    statuses = {t.subject: t.status for t in _tickets(w, "inspection_overdue")}
    assert statuses == {"classroom_multimedia": "resolved", "network_cabinet": "open"}


def test_a_room_no_plan_covers_and_an_unknown_item_are_clear_errors(world: World) -> None:
    w = world
    with w.db.session() as s:
        w.ing.register.ensure_room(s, "主校区", "B楼", "101")
    with pytest.raises(InspectionError, match="covers no room"):
        w.svc.start(actor="x", room="B楼/101")
    insp = w.svc.start(actor="x", room="302")
    with pytest.raises(InspectionError, match="no item 'volume'"):
        w.svc.record(insp.id, "volume", "pass", actor="x")
    with pytest.raises(InspectionError, match="several devices"):
        w.svc.record(insp.id, "cables", "pass", actor="x")
    with pytest.raises(InspectionError, match="pass, fail or skip"):
        w.svc.record(insp.id, "sound", "ok", actor="x")


def test_the_running_server_opens_the_overdue_reminder(server_factory) -> None:
    import time

    srv = server_factory(start=False)
    db = Database(srv.config.storage.db_url)
    reg = RegisterService(db)
    long_ago = datetime.now(UTC) - timedelta(days=45)
    with db.session() as s:
        room = reg.ensure_room(s, "主校区", "A楼", "305")
        _asset(s, reg, room, "A305-PANEL", "panel", None, long_ago)
    db.dispose()
    srv.start()
    deadline = time.monotonic() + 20
    found: list[Ticket] = []
    while not found and time.monotonic() < deadline:
        assert srv.db is not None
        with srv.db.session() as s:
            found = list(s.scalars(select(Ticket).where(Ticket.problem == "inspection_overdue")))
        time.sleep(0.2)
    assert [(t.subject, t.source, t.status) for t in found] == [
        ("classroom_multimedia", "inspection", "open")
    ]
    assert srv.inspections is not None and srv.inspections.runs >= 1
