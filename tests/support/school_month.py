"""A simulated school month (November 2026, Asia/Shanghai) on an injected clock.

Agents' statuses, reports, inventories and peripheral events go through the real ingest pipeline;
technicians and teachers work tickets through the ticket service; inspections are done or skipped
through the inspection service. The script below is data, so a test can compute every figure of the
monthly report from it independently.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from campusmon.contract import Event, Inventory, Metrics, Status, encode
from campusmon.demo.simulator import hardware_of
from campusmon.hashing import content_hash
from campusmon.server.config import ScheduleSettings, ServerConfig, StorageSettings
from campusmon.server.db import Database
from campusmon.server.ingest import Ingestor
from campusmon.server.inspections.live import StoreLatest
from campusmon.server.inspections.plans import load_plans
from campusmon.server.inspections.service import InspectionService
from campusmon.server.metrics import SqliteMetricStore
from campusmon.server.register.models import Asset, Room

TZ = ZoneInfo("Asia/Shanghai")
HOLIDAY = date(2026, 11, 20)
CAMPUS = "主校区"


def at(day: int, hh: int, mm: int = 0, month: int = 11) -> datetime:
    return datetime(2026, month, day, hh, mm, tzinfo=TZ)


#: device -> (building, room, asset type, asset tag, warranty end)
DEVICES: dict[str, tuple[str, str, str, str, date | None]] = {
    "a301-panel": ("A楼", "301", "panel", "A301-PANEL", date(2028, 9, 1)),
    "a301-pc": ("A楼", "301", "pc", "A301-PC", date(2026, 10, 15)),
    "a302-panel": ("A楼", "302", "panel", "A302-PANEL", date(2026, 12, 20)),
    "b101-pc": ("B楼", "101", "pc", "B101-PC", date(2027, 6, 1)),
    "sw-a": ("A楼", "机房", "switch", "SW-A", date(2026, 11, 30)),
}
#: a device the register does not know (it reports, but has no room)
UNPLACED = "lab-x"

#: (when, device, state) — every status message of the month, in order; all start online on Oct 30
STATUSES: list[tuple[datetime, str, str]] = [
    *[(at(30, 7, 0, month=10), d, "online") for d in (*DEVICES, UNPLACED)],
    (at(3, 9), "a301-pc", "lost"),  # in lesson hours: a device_down ticket
    (at(3, 11), "a301-pc", "online"),
    (at(7, 10), "a302-panel", "lost"),  # Saturday: recorded, not paged
    (at(8, 10), "a302-panel", "online"),
    (at(10, 12, 30), "b101-pc", "shutdown"),  # lunch break, back an hour into the afternoon
    (at(10, 14, 30), "b101-pc", "online"),
    (at(12, 16), "a301-panel", "lost"),  # over night, into the next morning's first lesson
    (at(13, 8), "a301-panel", "online"),
    (at(20, 9), "b101-pc", "lost"),  # a holiday: not expected on
    (at(23, 7), "b101-pc", "online"),
    (at(25, 9), UNPLACED, "lost"),
    (at(25, 9, 45), UNPLACED, "online"),
    (at(30, 17), "sw-a", "lost"),  # still down when the month ends
]


@dataclass(frozen=True)
class TicketScript:
    """What the test expects of one ticket, and how people work it."""

    key: str
    device: str
    problem: str
    source: str
    opened: datetime
    #: a person acknowledges (or starts) it
    acked: datetime | None
    resolved: datetime | None
    #: resolved by a person (else the system resolves it on recovery)
    by_hand: bool = False


TICKETS: list[TicketScript] = [
    TicketScript(
        "old", "b101-pc", "manual", "manual", at(28, 9, month=10), at(28, 10, month=10), at(4, 15), True
    ),
    TicketScript("ram", "a301-pc", "inventory_changed", "automatic", at(5, 12), None, None),
    TicketScript("pc-down", "a301-pc", "device_down", "automatic", at(3, 9), None, at(3, 11)),
    TicketScript("panel-down", "a301-panel", "device_down", "automatic", at(12, 16), None, at(13, 8)),
    TicketScript(
        "camera", "a301-panel", "peripheral_missing", "automatic", at(16, 10), at(16, 10, 30), at(18, 9)
    ),
    TicketScript("sound", "a302-panel", "manual", "manual", at(19, 9), at(19, 9, 20), at(19, 15), True),
    TicketScript("teacher", "", "manual", "teacher", at(19, 10), at(19, 10, 5), at(19, 11), True),
    TicketScript(
        "insp", "a302-panel", "inspection_failed", "inspection", at(24, 10), at(24, 13), at(25, 16), True
    ),
    TicketScript("labx", UNPLACED, "device_down", "automatic", at(25, 9), None, at(25, 9, 45)),
    TicketScript("switch", "sw-a", "device_down", "automatic", at(30, 17), None, None),
]

#: (when, plan target: room path or asset tag, failed items {asset:key: note}) — done inspections;
#: B楼/101 is skipped all month, and the switch after its second weekly round
INSPECTIONS: list[tuple[datetime, str, dict[str, str]]] = [
    (at(2, 10), "SW-A", {}),
    (at(9, 10), "SW-A", {}),
    (at(17, 9), "A楼/301", {"A301-PANEL:document_camera": "camera cable cut"}),
    (at(24, 10), "A楼/302", {"A302-PANEL:sound": "left speaker silent"}),
]
#: the RAM module taken from a301-pc, and the spare projector moved between rooms
RAM_REMOVED = at(5, 12)
MOVED = at(26, 16)
ASSETS_CREATED = datetime(2026, 10, 1, 8, 0, tzinfo=TZ)


@dataclass
class Clock:
    now: float = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class SchoolMonth:
    cfg: ServerConfig
    db: Database
    store: SqliteMetricStore
    ing: Ingestor
    inspections: InspectionService
    clock: Clock
    ticket_ids: dict[str, int] = field(default_factory=dict)

    def close(self) -> None:
        self.store.close()
        self.db.dispose()


def config(data_dir: Path) -> ServerConfig:
    cfg = ServerConfig(
        storage=StorageSettings(data_dir=data_dir),
        schedule=ScheduleSettings(timezone="Asia/Shanghai", default="school"),
    )
    cfg.schedule.profiles["school"].holidays = [HOLIDAY.isoformat()]
    cfg.schedule.validate()
    cfg.rules.group_hold_seconds = 0  # a lost device gets its own ticket at once (no group can form)
    cfg.rules.loss_confirm_seconds = 0  # the month is scripted on an injected clock: no broker to wait for
    return cfg


def _send(m: SchoolMonth, kind: str, msg: Any, when: datetime) -> None:
    m.clock.now = when.timestamp()
    m.ing.handle(f"campusmon/main/{msg.device}/{kind}", encode(msg), received=m.clock.now)


def _inventory(m: SchoolMonth, device: str, hw: dict[str, Any], when: datetime) -> None:
    inv = Inventory(
        campus="main", device=device, ts=when.timestamp(), hash=content_hash(hw), identity={}, inventory=hw
    )
    _send(m, "inventory", inv, when)


def build(data_dir: Path) -> SchoolMonth:
    cfg = config(data_dir)
    db = Database(cfg.storage.db_url)
    store = SqliteMetricStore(cfg.storage.metrics_path)
    clock = Clock(at(30, 6, month=10).timestamp())
    ing = Ingestor(cfg, db, store, clock=clock)
    svc = InspectionService(db, load_plans(), ing.tickets, tz=TZ, latest=StoreLatest(store), clock=clock)
    m = SchoolMonth(cfg, db, store, ing, svc, clock)
    reg = ing.register
    created = ASSETS_CREATED.astimezone(UTC)
    with db.session() as s:
        for device, (building, room, kind, tag, warranty) in DEVICES.items():
            r = reg.ensure_room(s, CAMPUS, building, room)
            r.building.campus.code = "main"
            a = reg.create(
                s,
                "import:school.xlsx",
                created,
                asset_tag=tag,
                name=tag,
                type=kind,
                status="in_use",
                campus_id=r.building.campus.id,
                warranty_end=warranty,
            )
            a.room, a.link_campus, a.link_device = r, "main", device
        spare = reg.create(
            s,
            "import:school.xlsx",
            created,
            asset_tag="PROJ-SPARE",
            name="PROJ-SPARE",
            type="projector",
            status="spare",
            campus_id=r.building.campus.id,
            warranty_end=date(2026, 12, 31),
        )
        spare.room = reg.ensure_room(s, CAMPUS, "A楼", "301")
    run(m)
    return m


def run(m: SchoolMonth) -> None:
    """Feed the month in time order."""
    script = TICKETS_BY_KEY
    hw = hardware_of("main", "a301-pc")
    _inventory(m, "a301-pc", hw, at(30, 7, 5, month=10))
    old = script["old"]
    m.clock.now = old.opened.timestamp()
    m.ticket_ids["old"] = m.ing.tickets.open(
        campus="main",
        device="b101-pc",
        problem="manual",
        summary="keyboard missing keys",
        actor="teacher:zhao",
        at=old.opened,
        source="manual",
        room="B楼/101",
    ).ticket_id
    m.ing.tickets.transition(m.ticket_ids["old"], "acknowledged", actor="tech:wang", at=old.acked)

    actions: list[tuple[datetime, int, Any]] = []
    for when, device, state in STATUSES:
        actions.append((when, 0, ("status", device, state)))
    actions.append((RAM_REMOVED, 0, ("ram", "a301-pc", None)))
    actions.append((MOVED, 0, ("move", "PROJ-SPARE", ("A楼", "302"))))
    actions.append((at(16, 10), 0, ("camera", "a301-panel", False)))
    actions.append((at(18, 9), 0, ("camera", "a301-panel", True)))
    for when, target, failed in INSPECTIONS:
        actions.append((when, 1, ("inspect", target, failed)))
    for tk in TICKETS:
        if tk.key == "old":
            actions.append((tk.resolved, 2, ("resolve", tk.key, None)))  # type: ignore[arg-type]
            continue
        if tk.source in ("manual", "teacher"):
            actions.append((tk.opened, 1, ("open", tk.key, None)))
        if tk.acked is not None:
            actions.append((tk.acked, 2, ("ack", tk.key, None)))
        if tk.by_hand and tk.resolved is not None:
            actions.append((tk.resolved, 2, ("resolve", tk.key, None)))
    seq = 0
    for when, _order, (what, who, arg) in sorted(actions, key=lambda a: (a[0], a[1])):
        m.clock.now = when.timestamp()
        if what == "status":
            _send(
                m, "status", Status(campus="main", device=who, ts=m.clock.now, state=arg, interval=60), when
            )
            if arg == "online" and who.endswith("panel"):
                seq += 1
                report = Metrics(
                    campus="main",
                    device=who,
                    ts=m.clock.now,
                    seq=seq,
                    interval=60,
                    metrics={
                        "peripherals": {
                            "display_connected_count": 1,
                            "touchscreen_count": 1,
                            "usb_camera_count": 1,
                        }
                    },
                )
                _send(m, "metrics", report, when)
        elif what == "ram":
            hw = copy.deepcopy(hw)
            hw["memory"]["modules"].pop()
            hw["memory"]["total_bytes"] //= 2
            _inventory(m, who, hw, when)
        elif what == "move":
            with m.db.session() as s:
                from sqlalchemy import select

                asset = s.scalars(select(Asset).where(Asset.asset_tag == who)).one()
                room = s.scalars(select(Room).where(Room.name == arg[1])).one()
                m.ing.register.move(s, asset, room, "user:admin", when.astimezone(UTC))
        elif what == "camera":
            kind = "peripheral_added" if arg else "peripheral_removed"
            before, now = (0, 1) if arg else (1, 0)
            ev = Event(
                campus="main",
                device=who,
                ts=m.clock.now,
                kind=kind,
                severity="info" if arg else "warning",
                message=f"document camera (USB video): {before} -> {now}",
                data={"peripheral": "usb_camera", "before": before, "now": now},
            )
            _send(m, "events", ev, when)
            if not arg:
                m.ticket_ids["camera"] = _active_id(m, who, "peripheral_missing")
        elif what == "inspect":
            spec = {"asset": who} if "/" not in who else {"room": who}
            insp = m.inspections.start(actor="tech:wang", at=when, **spec)
            for ref, note in arg.items():
                m.inspections.record(insp.id, ref, "fail", actor="tech:wang", note=note, at=when)
            done = m.inspections.finish(insp.id, actor="tech:wang", skip_rest=True, at=when)
            for tid, created in done.tickets.items():
                if created:
                    m.ticket_ids["insp"] = tid
        elif what == "open":
            tk = script[who]
            m.ticket_ids[who] = m.ing.tickets.open(
                campus="main",
                device=tk.device,
                problem="manual",
                subject="" if tk.device else "A楼/302",
                room="A楼/302",
                summary="no sound" if tk.device else "the panel in 302 shows nothing",
                actor="teacher:zhao" if tk.source == "teacher" else "tech:li",
                at=when,
                source=tk.source,
            ).ticket_id
        elif what == "ack":
            m.ing.tickets.transition(m.ticket_ids[who], "acknowledged", actor="tech:wang", at=when)
            if who == "camera":
                m.ing.tickets.transition(m.ticket_ids[who], "in_progress", actor="tech:wang", at=at(16, 11))
        elif what == "resolve":
            m.ing.tickets.transition(m.ticket_ids[who], "resolved", actor="tech:wang", note="fixed", at=when)
    for key, device, problem in (
        ("ram", "a301-pc", "inventory_changed"),
        ("labx", UNPLACED, "device_down"),
        ("pc-down", "a301-pc", "device_down"),
        ("panel-down", "a301-panel", "device_down"),
        ("switch", "sw-a", "device_down"),
    ):
        m.ticket_ids[key] = _ticket_id(m, device, problem, script[key].opened)
    m.clock.now = at(1, 8, month=12).timestamp()


def _active_id(m: SchoolMonth, device: str, problem: str) -> int:
    from sqlalchemy import select

    from campusmon.server.models import ACTIVE_STATES, Ticket

    with m.db.session() as s:
        return s.scalars(
            select(Ticket.id).where(
                Ticket.device == device, Ticket.problem == problem, Ticket.status.in_(ACTIVE_STATES)
            )
        ).one()


def _ticket_id(m: SchoolMonth, device: str, problem: str, opened: datetime) -> int:
    from sqlalchemy import select

    from campusmon.server.models import Ticket

    with m.db.session() as s:
        return s.scalars(
            select(Ticket.id).where(
                Ticket.device == device, Ticket.problem == problem, Ticket.opened_at == opened.astimezone(UTC)
            )
        ).one()


TICKETS_BY_KEY = {t.key: t for t in TICKETS}
