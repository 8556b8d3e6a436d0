"""The rule engine's `Topology` backed by the register: rooms and upstreams kept by admins or learned."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select

from ..db import Database
from ..topology import Upstream
from .models import Asset, Building, Room


@dataclass(frozen=True, slots=True)
class _Place:
    room: str | None
    building: str | None
    device_type: str | None
    upstream: Upstream | None


class RegisterTopology:
    """Answers from the database, cached for `ttl` seconds: the rule engine asks on every report, and
    an admin's `assets set --room` still counts within seconds."""

    def __init__(self, db: Database, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self._clock = clock
        self._places: dict[tuple[str, str], tuple[float, _Place]] = {}
        self._behind: dict[tuple[str, str], tuple[float, list[str]]] = {}

    def _place(self, campus: str, device: str) -> _Place:
        now = self._clock()
        hit = self._places.get((campus, device))
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with self.db.session() as s:
            row = s.execute(
                select(Asset.type, Asset.upstream_switch, Asset.upstream_port, Room.name, Building.name)
                .select_from(Asset)
                .outerjoin(Room, Asset.room_id == Room.id)
                .outerjoin(Building, Room.building_id == Building.id)
                .where(
                    Asset.link_campus == campus,
                    Asset.link_device == device,
                    Asset.merged_into.is_(None),
                )
                .order_by(Asset.inventory_at.desc(), Asset.id.desc())
            ).first()
        if row is None:
            place = _Place(None, None, None, None)
        else:
            kind, switch, port, room, building = row
            place = _Place(
                room=f"{building}/{room}" if room is not None else None,
                building=building,
                device_type=kind,
                upstream=Upstream(switch, port or "") if switch else None,
            )
        self._places[(campus, device)] = (now, place)
        return place

    def room_of(self, campus: str, device: str) -> str | None:
        """BUILDING/ROOM of the device (rooms are per campus), None when the register does not know."""
        return self._place(campus, device).room

    def building_of(self, campus: str, device: str) -> str | None:
        return self._place(campus, device).building

    def type_of(self, campus: str, device: str) -> str | None:
        return self._place(campus, device).device_type

    def upstream_of(self, campus: str, device: str) -> Upstream | None:
        return self._place(campus, device).upstream

    def devices_behind(self, campus: str, switch: str) -> list[str]:
        now = self._clock()
        hit = self._behind.get((campus, switch))
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with self.db.session() as s:
            rows = s.scalars(
                select(Asset.link_device).where(
                    Asset.link_campus == campus,
                    Asset.upstream_switch == switch,
                    Asset.link_device.is_not(None),
                    Asset.merged_into.is_(None),
                )
            )
            devices = sorted({d for d in rows if d})
        self._behind[(campus, switch)] = (now, devices)
        return devices
