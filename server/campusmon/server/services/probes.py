"""Probe targets: what a campus's probe runner checks, as the register describes it (read only)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from ..db import Database
from ..register.models import Asset, Campus


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
        from campusmon.probes.config import default_register_checks
        from campusmon.probes.targets import register_assets

        checks = default_register_checks()
        out: list[ProbeTargetView] = []
        for c in [campus] if campus else self.campuses():
            for e in register_assets(self.db, c, list(checks), link=False):
                out.append(
                    ProbeTargetView(e.id, c, e.type, e.host, e.tag, e.name, str(checks.get(e.type, "")))
                )
        return out
