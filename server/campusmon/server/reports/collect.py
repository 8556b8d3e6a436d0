"""Reads the rows a monthly report is computed from (devices, state history, tickets with their
history, inspections, the register) and hands them to the pure figures."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from ..db import Database, as_utc
from ..inspections.models import Inspection
from ..inspections.plans import Plans
from ..inspections.service import InspectionService
from ..models import Device, DeviceHistory, Ticket
from ..register.models import Asset, AssetHistory, Building, Campus, Room
from ..schedule import Schedule
from .figures import (
    HARDWARE_FIELDS,
    STATE_KINDS,
    ChangeRow,
    DeviceRow,
    InspectionTargetRow,
    Month,
    MonthlyFigures,
    Place,
    StateChange,
    TicketEvent,
    TicketRow,
    WarrantyRow,
    compute,
)


@dataclass(frozen=True, slots=True)
class _Where:
    place: Place
    label: str
    device_type: str | None


def _asset_places(s: Session) -> tuple[dict[tuple[str, str], _Where], dict[int, str]]:
    """(campus, device) → where its asset is; asset id → campus/building/room text."""
    rows = s.execute(
        select(Asset, Room, Building, Campus)
        .outerjoin(Room, Asset.room_id == Room.id)
        .outerjoin(Building, Room.building_id == Building.id)
        .outerjoin(Campus, Asset.campus_id == Campus.id)
        .where(Asset.merged_into.is_(None))
        .order_by(Asset.id)
    ).all()
    linked: dict[tuple[str, str], _Where] = {}
    text: dict[int, str] = {}
    for asset, room, building, campus in rows:
        camp = building.campus.name if building is not None else (campus.name if campus is not None else "")
        place = Place(camp, building.name if building else "", room.name if room else "")
        text[asset.id] = "/".join(p for p in (place.campus, place.building, place.room) if p)
        if asset.link_campus and asset.link_device:
            linked[(asset.link_campus, asset.link_device)] = _Where(
                place, asset.asset_tag or asset.name or f"#{asset.id}", asset.type
            )
    return linked, text


def collect(
    db: Database,
    month: Month,
    schedule: Schedule,
    plans: Plans,
    inspections: InspectionService,
    *,
    near_days: int = 90,
) -> MonthlyFigures:
    # stored times are UTC (SQLite keeps no zone): compare in UTC
    start, end = month.start.astimezone(UTC), month.end.astimezone(UTC)
    with db.session() as s:
        linked, asset_place = _asset_places(s)
        names = {c.code: c.name for c in s.scalars(select(Campus)) if c.code}
        devices: list[DeviceRow] = []
        for d in s.scalars(select(Device).order_by(Device.campus, Device.device)):
            unplaced = _Where(Place(names.get(d.campus, d.campus)), "", None)
            where = linked.get((d.campus, d.device)) or unplaced
            room = f"{where.place.building}/{where.place.room}" if where.place.room else None
            profile = schedule.profile_for(d.campus, d.device, room, where.device_type)
            devices.append(DeviceRow(d.campus, d.device, where.place, profile, where.label))
        ids = {d.id: (d.campus, d.device) for d in s.scalars(select(Device))}
        changes = [
            StateChange(*ids[h.device_id], (as_utc(h.at) or h.at).timestamp(), STATE_KINDS[h.kind])
            for h in s.scalars(
                select(DeviceHistory)
                .where(DeviceHistory.kind.in_(list(STATE_KINDS)), DeviceHistory.at < end)
                .order_by(DeviceHistory.at, DeviceHistory.id)
            )
            if h.device_id in ids
        ]
        tickets = [
            TicketRow(
                t.id,
                t.campus,
                t.device,
                t.problem,
                t.source,
                (as_utc(t.opened_at) or t.opened_at).timestamp(),
                tuple(
                    TicketEvent((as_utc(h.at) or h.at).timestamp(), h.action, h.to_status)
                    for h in sorted(t.history, key=lambda h: (as_utc(h.at) or h.at, h.id))
                ),
            )
            for t in s.scalars(
                select(Ticket).where(Ticket.opened_at < end).options(selectinload(Ticket.history))
            )
        ]
        done: dict[tuple[str, str], list[date]] = defaultdict(list)
        for i in s.scalars(
            select(Inspection).where(Inspection.status == "done", Inspection.finished_at < end)
        ):
            finished = as_utc(i.finished_at)
            if finished is not None:
                done[(i.plan, i.target)].append(finished.astimezone(month.tz).date())
        targets = []
        for name, spec in plans.plans.items():
            for t in inspections.targets(s, name, spec):
                targets.append(
                    InspectionTargetRow(
                        name, t.place, spec.interval_days, t.since, tuple(done[(name, t.key)])
                    )
                )
        warranty = [
            WarrantyRow(a.asset_tag or f"#{a.id}", a.name, a.type, asset_place.get(a.id, ""), a.warranty_end)
            for a in s.scalars(
                select(Asset).where(
                    Asset.merged_into.is_(None),
                    Asset.status != "retired",
                    Asset.warranty_end.is_not(None),
                )
            )
            if a.warranty_end is not None
        ]
        tags = {a.id: a.asset_tag or a.name or f"#{a.id}" for a in s.scalars(select(Asset))}
        asset_changes = [
            ChangeRow(
                (as_utc(h.at) or h.at).timestamp(),
                tags.get(h.asset_id, f"#{h.asset_id}"),
                asset_place.get(h.asset_id, ""),
                h.field,
                h.old,
                h.new,
                h.actor,
            )
            for h in s.scalars(
                select(AssetHistory).where(
                    AssetHistory.field.in_(HARDWARE_FIELDS),
                    AssetHistory.at >= start,
                    AssetHistory.at < end,
                )
            )
        ]
    return compute(month, devices, changes, tickets, targets, warranty, asset_changes, near_days=near_days)
