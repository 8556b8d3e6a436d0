"""The rule engine's `Topology` backed by the register: rooms and upstreams kept by admins or learned."""

from __future__ import annotations

from sqlalchemy import select

from ..db import Database
from ..topology import Upstream
from .models import Asset, Building, Room


class RegisterTopology:
    """Answers from the database on every call, so an admin's `assets set --room` counts at once."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def _linked(self, campus: str, device: str) -> Asset | None:
        with self.db.session() as s:
            return s.scalars(
                select(Asset)
                .where(
                    Asset.link_campus == campus,
                    Asset.link_device == device,
                    Asset.merged_into.is_(None),
                )
                .order_by(Asset.inventory_at.desc(), Asset.id.desc())
            ).first()

    def room_of(self, campus: str, device: str) -> str | None:
        """BUILDING/ROOM of the device (rooms are per campus), None when the register does not know."""
        with self.db.session() as s:
            row = s.execute(
                select(Building.name, Room.name)
                .select_from(Asset)
                .join(Room, Asset.room_id == Room.id)
                .join(Building, Room.building_id == Building.id)
                .where(
                    Asset.link_campus == campus,
                    Asset.link_device == device,
                    Asset.merged_into.is_(None),
                )
                .order_by(Asset.inventory_at.desc(), Asset.id.desc())
            ).first()
        return f"{row[0]}/{row[1]}" if row else None

    def upstream_of(self, campus: str, device: str) -> Upstream | None:
        asset = self._linked(campus, device)
        if asset is None or not asset.upstream_switch:
            return None
        return Upstream(asset.upstream_switch, asset.upstream_port)

    def devices_behind(self, campus: str, switch: str) -> list[str]:
        with self.db.session() as s:
            rows = s.scalars(
                select(Asset.link_device).where(
                    Asset.link_campus == campus,
                    Asset.upstream_switch == switch,
                    Asset.link_device.is_not(None),
                    Asset.merged_into.is_(None),
                )
            )
            return sorted({d for d in rows if d})
