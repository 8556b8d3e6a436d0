"""Live devices: status tiles (campus → building → room), one device in full, switches and ports."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import case, func, select

from ..config import ServerConfig, static_topology
from ..db import Database, as_utc, utcnow
from ..metrics import parse_series_key
from ..models import ACTIVE_STATES, Device, DeviceHistory, Ticket, TicketDevice
from ..register.models import Asset, AssetHistory, Building, Campus, Room
from ..schedule import compile_schedule
from ..tickets import DOWN_PROBLEMS
from . import NotFound, Page, PageRequest
from .series import MetricSource, SeriesPoint

#: tile colours, worst first
COLORS = ("red", "amber", "green", "grey")
_SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
NO_PLACE = ""


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """A device's live state as ingest last wrote it (`campusmon devices`, an asset's `live`)."""

    campus: str
    device: str
    state: str
    state_since: datetime | None
    state_reason: str | None
    last_seen: datetime | None
    last_report_ts: datetime | None
    last_seq: int | None
    interval_s: int | None
    agent: str | None

    def as_json(self) -> dict[str, Any]:
        def iso(v: datetime | None) -> str | None:
            return None if v is None else v.isoformat()

        return {
            "campus": self.campus,
            "device": self.device,
            "state": self.state,
            "state_since": iso(self.state_since),
            "state_reason": self.state_reason,
            "last_seen": iso(self.last_seen),
            "last_report_ts": iso(self.last_report_ts),
            "last_seq": self.last_seq,
            "interval_s": self.interval_s,
            "agent": self.agent,
        }


def _status(d: Device) -> DeviceStatus:
    return DeviceStatus(
        d.campus,
        d.device,
        d.state,
        as_utc(d.state_since),
        d.state_reason,
        as_utc(d.last_seen),
        as_utc(d.last_report_ts),
        d.last_seq,
        d.interval_s,
        d.agent,
    )


def device_statuses(db: Database) -> list[DeviceStatus]:
    """Every device's live state, by campus and id (no configuration needed: for the CLI)."""
    with db.session() as s:
        return [_status(d) for d in s.scalars(select(Device).order_by(Device.campus, Device.device))]


def device_status(db: Database, campus: str, device: str) -> DeviceStatus | None:
    with db.session() as s:
        d = s.scalars(select(Device).where(Device.campus == campus, Device.device == device)).first()
        return None if d is None else _status(d)


@dataclass(frozen=True, slots=True)
class DeviceTile:
    campus: str
    device: str
    name: str
    type: str
    building: str
    room: str
    state: str
    #: green online, grey off as expected now, red down or a critical problem, amber a warning
    color: str
    since: datetime | None
    open_tickets: int
    asset_id: int | None


@dataclass(frozen=True, slots=True)
class RoomTiles:
    campus: str
    building: str
    room: str
    room_id: int | None
    devices: list[DeviceTile]
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class Overview:
    rooms: list[RoomTiles]
    counts: dict[str, int]
    total: int
    at: datetime


@dataclass(frozen=True, slots=True)
class TicketBrief:
    id: int
    problem: str
    subject: str
    severity: str
    status: str
    summary: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class HistoryItem:
    at: datetime
    kind: str
    detail: str
    actor: str = ""


@dataclass(frozen=True, slots=True)
class DeviceDetail:
    tile: DeviceTile
    state_reason: str
    last_seen: datetime | None
    last_report: datetime | None
    interval_s: int | None
    agent: str
    expected_now: bool
    latest: dict[str, float]
    inventory: dict[str, Any]
    peripherals: dict[str, float]
    tickets: list[TicketBrief]
    hardware_history: list[HistoryItem]
    state_history: list[HistoryItem]


@dataclass(frozen=True, slots=True)
class PortRow:
    port: str
    port_class: str
    admin_up: bool
    oper_up: bool
    speed_bps: float
    in_utilisation_percent: float | None
    out_utilisation_percent: float | None
    in_errors_per_second: float | None
    out_errors_per_second: float | None
    fault: bool
    #: registered devices learned behind this port (switch forwarding table), `campus/device` or tag
    behind: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class SwitchView:
    tile: DeviceTile
    ports: list[PortRow]


@dataclass(frozen=True, slots=True)
class DeviceFilter:
    campus: str | None = None
    building: str | None = None
    room: str | None = None
    type: str | None = None
    color: str | None = None
    state: str | None = None


@dataclass
class _Place:
    name: str = ""
    type: str = ""
    building: str = NO_PLACE
    room: str = NO_PLACE
    room_id: int | None = None
    asset_id: int | None = None

    @property
    def path(self) -> str | None:
        """BUILDING/ROOM, as tickets and schedules name a room."""
        if not self.room:
            return None
        return f"{self.building}/{self.room}" if self.building else self.room


class DeviceService:
    def __init__(
        self,
        db: Database,
        config: ServerConfig,
        series: MetricSource | None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.db = db
        self.config = config
        self.source = series
        self.clock = clock
        self.schedule = compile_schedule(config.schedule)
        self.static = static_topology(config)

    # -- where each device is --------------------------------------------------------------------
    def _places(self, campus: str | None = None, device: str | None = None) -> dict[tuple[str, str], _Place]:
        q = (
            select(
                Asset.link_campus,
                Asset.link_device,
                Asset.id,
                Asset.name,
                Asset.type,
                Room.id,
                Room.name,
                Building.name,
            )
            .outerjoin(Room, Asset.room_id == Room.id)
            .outerjoin(Building, Room.building_id == Building.id)
            .where(Asset.link_device.is_not(None), Asset.merged_into.is_(None))
        )
        if campus is not None:
            q = q.where(Asset.link_campus == campus)
        if device is not None:
            q = q.where(Asset.link_device == device)
        with self.db.session() as s:
            rows = s.execute(q).all()
        return {
            (str(c), str(d)): _Place(name or "", typ or "", bname or "", rname or "", rid, aid)
            for c, d, aid, name, typ, rid, rname, bname in rows
        }

    def _place(self, places: Mapping[tuple[str, str], _Place], campus: str, device: str) -> _Place:
        p = places.get((campus, device))
        if p is not None and p.room:
            return p
        p = p or _Place()
        room = self.static.room_of(campus, device) or ""
        if room:
            if "/" in room:
                p.building, p.room = room.rsplit("/", 1)
            else:
                p.room = room
                p.building = self.static.building_of(campus, device) or ""
        p.type = p.type or self.static.type_of(campus, device) or ""
        return p

    # -- colours -----------------------------------------------------------------------------------
    def _problems(
        self, campus: str | None = None, device: str | None = None
    ) -> tuple[dict[tuple[str, str], str], Counter[tuple[str, str]]]:
        """Worst open problem per device ("down", or a severity) and open tickets per device (of one
        campus, or of one device). Both queries read only the covering index
        `ix_tickets_active_devices` (migration 0120), not the ticket rows."""
        worst: dict[tuple[str, str], str] = {}
        count: Counter[tuple[str, str]] = Counter()

        def put(key: tuple[str, str], level: str) -> None:
            old = worst.get(key)
            rank = {"down": 9, **_SEVERITY_RANK}
            if old is None or rank[level] > rank[old]:
                worst[key] = level

        down = case((Ticket.problem.in_(DOWN_PROBLEMS), "down"), else_=Ticket.severity)
        with self.db.session() as s:
            q = (
                select(Ticket.campus, Ticket.device, down, func.count(Ticket.id))
                .where(Ticket.status.in_(ACTIVE_STATES), Ticket.device != "")
                .group_by(Ticket.campus, Ticket.device, down)
            )
            g = (
                select(TicketDevice.campus, TicketDevice.device)
                .join(Ticket, TicketDevice.ticket_id == Ticket.id)
                .where(Ticket.status.in_(ACTIVE_STATES), TicketDevice.recovered_at.is_(None))
                .distinct()
            )
            if campus is not None:
                q = q.where(Ticket.campus == campus)
                g = g.where(TicketDevice.campus == campus)
            if device is not None:
                q = q.where(Ticket.device == device)
                g = g.where(TicketDevice.device == device)
            for c, d, level, n in s.execute(q):
                key = (str(c), str(d))
                count[key] += int(n)
                put(key, str(level))
            for c, d in s.execute(g):
                put((str(c), str(d)), "down")
        return worst, count

    def _color(self, d: Device, place: _Place, problem: str | None, now: float) -> str:
        if problem in {"down", "critical"}:
            return "red"
        if d.state == "online":
            return "amber" if problem in ("warning", "info") else "green"
        # only a silent device needs the school schedule (expected now: red; off as planned: grey)
        if d.state == "lost":
            return (
                "red"
                if self.schedule.at(d.campus, d.device, now, place.path, place.type or None).expected
                else "grey"
            )
        return "grey"

    def _tile(
        self,
        d: Device,
        place: _Place,
        problems: Mapping[tuple[str, str], str],
        counts: Counter[tuple[str, str]],
        now: float,
    ) -> DeviceTile:
        key = (d.campus, d.device)
        return DeviceTile(
            d.campus,
            d.device,
            place.name or d.device,
            place.type,
            place.building,
            place.room,
            d.state,
            self._color(d, place, problems.get(key), now),
            as_utc(d.state_since),
            counts.get(key, 0),
            place.asset_id,
        )

    def tiles(self, flt: DeviceFilter | None = None) -> list[DeviceTile]:
        flt = flt or DeviceFilter()
        now = self.clock()
        places = self._places(flt.campus)
        problems, counts = self._problems(flt.campus)
        with self.db.session() as s:
            q = select(Device).order_by(Device.campus, Device.device)
            if flt.campus:
                q = q.where(Device.campus == flt.campus)
            if flt.state:
                q = q.where(Device.state == flt.state)
            devices = list(s.scalars(q))
        tiles = [
            self._tile(d, self._place(places, d.campus, d.device), problems, counts, now) for d in devices
        ]
        return [
            t
            for t in tiles
            if (not flt.building or t.building == flt.building)
            and (not flt.room or t.room == flt.room)
            and (not flt.type or t.type == flt.type)
            and (not flt.color or t.color == flt.color)
        ]

    def page(self, flt: DeviceFilter, page: PageRequest) -> Page[DeviceTile]:
        tiles = self.tiles(flt)
        return Page(tiles[page.offset : page.offset + page.per_page], len(tiles), page.page, page.per_page)

    def overview(self, campus: str | None = None) -> Overview:
        tiles = self.tiles(DeviceFilter(campus=campus))
        room_ids = self._room_ids()
        groups: dict[tuple[str, str, str], list[DeviceTile]] = defaultdict(list)
        for t in tiles:
            groups[(t.campus, t.building, t.room)].append(t)
        rooms = []
        for (c, b, r), devs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] == "", kv[0])):
            counts = Counter(t.color for t in devs)
            rooms.append(
                RoomTiles(c, b, r, room_ids.get((c, b, r)), devs, {k: counts.get(k, 0) for k in COLORS})
            )
        total = Counter(t.color for t in tiles)
        return Overview(rooms, {k: total.get(k, 0) for k in COLORS}, len(tiles), utcnow())

    def _room_ids(self) -> dict[tuple[str, str, str], int]:
        with self.db.session() as s:
            rows = s.execute(
                select(Campus.name, Campus.code, Building.name, Room.name, Room.id)
                .join(Building, Building.campus_id == Campus.id)
                .join(Room, Room.building_id == Building.id)
            ).all()
        out: dict[tuple[str, str, str], int] = {}
        for cname, code, bname, rname, rid in rows:
            out[(cname, bname, rname)] = rid
            if code:
                out[(code, bname, rname)] = rid
        return out

    # -- one device --------------------------------------------------------------------------------
    def _device_row(self, campus: str, device: str) -> Device:
        with self.db.session() as s:
            d = s.scalars(select(Device).where(Device.campus == campus, Device.device == device)).first()
        if d is None:
            raise NotFound(f"no device {campus}/{device}")
        return d

    def tile(self, campus: str, device: str) -> DeviceTile:
        d = self._device_row(campus, device)
        problems, counts = self._problems(campus, device)
        return self._tile(
            d, self._place(self._places(campus, device), campus, device), problems, counts, self.clock()
        )

    def get(self, campus: str, device: str) -> DeviceDetail:
        d = self._device_row(campus, device)
        place = self._place(self._places(campus, device), campus, device)
        problems, counts = self._problems(campus, device)
        now = self.clock()
        tile = self._tile(d, place, problems, counts, now)
        with self.db.session() as s:
            inventory: dict[str, Any] = {}
            hardware: list[HistoryItem] = []
            if place.asset_id is not None:
                asset = s.get(Asset, place.asset_id)
                inventory = dict(asset.inventory or {}) if asset is not None else {}
                hardware = [
                    HistoryItem(
                        as_utc(h.at) or utcnow(), h.field, f"{h.old or '–'} → {h.new or '–'}", h.actor
                    )
                    for h in s.scalars(
                        select(AssetHistory)
                        .where(AssetHistory.asset_id == place.asset_id)
                        .order_by(AssetHistory.id.desc())
                        .limit(50)
                    )
                ]
            states = [
                HistoryItem(as_utc(h.at) or utcnow(), h.kind, h.detail)
                for h in s.scalars(
                    select(DeviceHistory)
                    .where(DeviceHistory.device_id == d.id)
                    .order_by(DeviceHistory.id.desc())
                    .limit(50)
                )
            ]
            own = select(Ticket.id).where(Ticket.campus == campus, Ticket.device == device)
            grouped = select(TicketDevice.ticket_id).where(
                TicketDevice.campus == campus, TicketDevice.device == device
            )
            tickets = [
                TicketBrief(
                    t.id,
                    t.problem,
                    t.subject,
                    t.severity,
                    t.status,
                    t.summary,
                    as_utc(t.opened_at) or utcnow(),
                )
                for t in s.scalars(
                    select(Ticket)
                    .where(Ticket.id.in_(own.union(grouped).scalar_subquery()))
                    .order_by(Ticket.id.desc())
                    .limit(50)
                )
            ]
        latest = self.source.latest(campus, device) if self.source is not None else {}
        peripherals = {
            k: v
            for k, v in latest.items()
            if k.split("{", 1)[0] in ("display_connected_count", "touchscreen_count", "usb_camera_count")
        }
        expected = self.schedule.at(campus, device, now, place.path, place.type or None).expected
        return DeviceDetail(
            tile,
            d.state_reason or "",
            as_utc(d.last_seen),
            as_utc(d.last_report_ts),
            d.interval_s,
            d.agent or "",
            expected,
            latest,
            inventory,
            peripherals,
            tickets,
            hardware,
            states,
        )

    def series(
        self,
        campus: str,
        device: str,
        name: str,
        *,
        hours: float,
        labels: Mapping[str, str] | None = None,
        checked: bool = False,
    ) -> list[SeriesPoint]:
        """One chart's points (240 steps over `hours`); `checked`: the caller looked the device up."""
        if not checked:
            self._device_row(campus, device)
        if self.source is None:
            return []
        until = self.clock()
        since = until - hours * 3600
        return self.source.series(
            campus, device, name, since=since, until=until, step=hours * 3600 / 240, labels=labels
        )

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count(Device.id))) or 0)

    # -- switches ----------------------------------------------------------------------------------
    def switches(self) -> list[DeviceTile]:
        return [t for t in self.tiles() if t.type == "switch"]

    def switch(self, campus: str, device: str) -> SwitchView:
        tile = self.tile(campus, device)
        latest = self.source.latest(campus, device) if self.source is not None else {}
        per_port: dict[str, dict[str, float]] = defaultdict(dict)
        classes: dict[str, str] = {}
        for key, value in latest.items():
            name, labels = parse_series_key(key)
            port = labels.get("port")
            if port is None or not name.startswith("port_"):
                continue
            per_port[port][name] = value
            classes[port] = labels.get("class", "")
        behind: dict[str, list[str]] = defaultdict(list)
        with self.db.session() as s:
            for tag, name, ldev, port in s.execute(
                select(Asset.asset_tag, Asset.name, Asset.link_device, Asset.upstream_port).where(
                    Asset.upstream_switch == device, Asset.merged_into.is_(None)
                )
            ):
                behind[str(port)].append(str(ldev or tag or name))
        rows = []
        for port in sorted(per_port, key=_port_key):
            m = per_port[port]
            rows.append(
                PortRow(
                    port,
                    classes.get(port, ""),
                    bool(m.get("port_admin_up", 0)),
                    bool(m.get("port_oper_up", 0)),
                    m.get("port_speed_bps", 0.0),
                    m.get("port_in_utilisation_percent"),
                    m.get("port_out_utilisation_percent"),
                    m.get("port_in_errors_per_second"),
                    m.get("port_out_errors_per_second"),
                    bool(m.get("port_fault", 0)),
                    sorted(behind.get(port, [])),
                )
            )
        return SwitchView(tile, rows)


def _port_key(name: str) -> tuple[str, ...]:
    """Gi1/0/2 before Gi1/0/10."""
    import re

    return tuple(p.zfill(6) if p.isdigit() else p for p in re.split(r"(\d+)", name))
