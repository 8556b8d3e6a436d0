"""Probe targets: what a campus's probe runner checks, as the register describes it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import and_, or_, select

from campusmon.probes.config import default_register_checks
from campusmon.probes.targets import AssetEntry, AssetRow, assign_ids

from ..db import Database, utcnow
from ..register.models import Asset, Campus
from ..register.service import RegisterService, search_text


def register_assets(
    db: Database, campus: str, types: Iterable[str], *, link: bool = False, actor: str = ""
) -> list[AssetEntry]:
    """In-use assets of `types` with an IP address in `campus` (its MQTT id: the campus code, or its
    name when it has no code, or assets linked to devices of that campus), with ids assigned.
    `link`: an asset without a device link is linked to its id (a history row says so), so tickets
    for that target name the asset and its room."""
    wanted = sorted(set(types))
    in_campus = or_(
        Asset.link_campus == campus,
        and_(
            Asset.link_campus.is_(None),
            Asset.campus_id.in_(
                select(Campus.id).where(
                    or_(Campus.code == campus, and_(Campus.code.is_(None), Campus.name == campus))
                )
            ),
        ),
    )
    query = select(Asset.id, Asset.type, Asset.ip, Asset.asset_tag, Asset.name, Asset.link_device).where(
        Asset.merged_into.is_(None),
        Asset.status == "in_use",
        Asset.type.in_(wanted),
        Asset.ip != "",
        in_campus,
    )
    with db.session() as s:
        rows = sorted(
            (
                AssetRow(asset_id=i, type=t, ip=ip, tag=tag, name=name or "", link_device=dev)
                for i, t, ip, tag, name, dev in s.execute(query)
                if ip and ip.strip()
            ),
            key=lambda r: r.asset_id,
        )
        # device ids other assets of this campus already report as (PCs, manual links)
        others = set(
            s.scalars(
                select(Asset.link_device).where(
                    Asset.link_campus == campus, Asset.link_device.is_not(None), Asset.merged_into.is_(None)
                )
            )
        )
        entries = assign_ids(rows, reserved={d for d in others if d} - {r.link_device for r in rows})
        if link:
            now = utcnow()
            unlinked = {r.asset_id: e.id for r, e in zip(rows, entries, strict=True) if not r.link_device}
            for asset in s.scalars(select(Asset).where(Asset.id.in_(list(unlinked)))):
                device = unlinked[asset.id]
                RegisterService.record(
                    s, asset, "device", None, f"{campus}/{device}", actor or "probe:targets", now
                )
                asset.link_campus, asset.link_device = campus, device
                asset.updated_at = now
                asset.search_text = search_text(asset)
    return entries


@dataclass(frozen=True, slots=True)
class ProbeTargetView:
    id: str
    campus: str
    type: str
    host: str
    tag: str
    name: str
    #: the check the runner gives this type (snmp, icmp)
    check: str


class ProbeService:
    def __init__(self, db: Database) -> None:
        self.db = db

    def campuses(self) -> list[str]:
        with self.db.session() as s:
            known = {c for row in s.execute(select(Campus.code, Campus.name)) for c in row if c}
            known |= {c for c in s.scalars(select(Asset.link_campus).distinct()) if c}
        return sorted(known)

    def targets(self, campus: str | None = None) -> list[ProbeTargetView]:
        """In-use assets with an IP address of the probed types, with the ids the runner gives them."""
        checks = default_register_checks()
        out: list[ProbeTargetView] = []
        for c in [campus] if campus else self.campuses():
            for e in register_assets(self.db, c, list(checks), link=False):
                out.append(
                    ProbeTargetView(e.id, c, e.type, e.host, e.tag, e.name, str(checks.get(e.type, "")))
                )
        return out
