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


@dataclass(frozen=True, slots=True)
class _Campus:
    """One campus's places, read in one query: device -> place, switch -> devices behind it."""

    places: dict[str, _Place]
    behind: dict[str, list[str]]


_UNKNOWN = _Place(None, None, None, None)


class RegisterTopology:
    """Answers from the database, cached per campus for `ttl` seconds: the rule engine asks on every
    report, so a campus's places are read in one query (not one per device: at a district's 333
    reports/s that was most of a worker's time), and an admin's `assets set --room` still counts
    within seconds."""

    def __init__(self, db: Database, ttl: float = 10.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.ttl = ttl
        self._clock = clock
        self._campuses: dict[str, tuple[float, _Campus]] = {}

    def _campus(self, campus: str) -> _Campus:
        now = self._clock()
        hit = self._campuses.get(campus)
        if hit is not None and now - hit[0] < self.ttl:
            return hit[1]
        with self.db.session() as s:
            rows = s.execute(
                select(
                    Asset.link_device,
                    Asset.type,
                    Asset.upstream_switch,
                    Asset.upstream_port,
                    Room.name,
                    Building.name,
                )
                .select_from(Asset)
                .outerjoin(Room, Asset.room_id == Room.id)
                .outerjoin(Building, Room.building_id == Building.id)
                .where(
                    Asset.link_campus == campus,
                    Asset.link_device.is_not(None),
                    Asset.merged_into.is_(None),
                )
                # two assets claiming one device: the one with the newest inventory answers
                .order_by(Asset.inventory_at.desc(), Asset.id.desc())
            ).all()
        places: dict[str, _Place] = {}
        behind: dict[str, set[str]] = {}
        for device, kind, switch, port, room, building in rows:
            if not device:
                continue
            if switch:
                behind.setdefault(switch, set()).add(device)
            if device in places:
                continue
            places[device] = _Place(
                room=f"{building}/{room}" if room is not None else None,
                building=building,
                device_type=kind,
                upstream=Upstream(switch, port or "") if switch else None,
            )
        got = _Campus(places, {sw: sorted(devs) for sw, devs in behind.items()})
        self._campuses[campus] = (now, got)
        return got

    def _place(self, campus: str, device: str) -> _Place:
        return self._campus(campus).places.get(device, _UNKNOWN)

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
        return list(self._campus(campus).behind.get(switch, []))
