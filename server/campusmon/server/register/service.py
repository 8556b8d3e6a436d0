"""The asset register: rooms, assets, history, and automatic registration from agent/probe inventories."""

from __future__ import annotations

import ipaddress
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from campusmon.config import did_you_mean
from campusmon.contract import ID_PATTERN, ID_RE, Inventory

from ..db import Database, utcnow
from .changes import Change, diff_inventory
from .fields import RegisterError, parse_field, show
from .identity import Candidate, Fingerprint, MatchResult, clean, decide, fingerprint, normalize_mac
from .models import ASSET_TYPES, Asset, AssetDisk, AssetHistory, AssetMac, AssetReview, Building, Campus, Room

_log = logging.getLogger(__name__)

_RECORD_COLUMNS = (
    "id", "asset_tag", "name", "type", "status", "position", "serial", "vendor", "model",
    "purchase_date", "price", "warranty_end", "department", "notes", "ip", "os_family",
    "upstream_switch", "upstream_port", "upstream_source", "link_campus", "link_device", "custom",
)  # fmt: skip
#: a switch port that shows more MACs than this is an uplink, not where a device is plugged in
FDB_MAX_MACS_PER_ACCESS_PORT = 24
_CHUNK = 500


@dataclass
class AssetFilter:
    campus: str | None = None
    building: str | None = None
    room: str | None = None
    type: str | None = None
    status: str | None = None
    search: str | None = None
    warranty_before: date | None = None
    include_merged: bool = False


@dataclass
class InventoryOutcome:
    """What one inventory did to the register; handed to every listener after it was committed."""

    campus: str
    device: str
    asset_id: int
    #: match (an existing asset), new, or review (a new asset plus a review entry)
    decision: str
    reason: str
    created: bool
    changes: list[Change] = field(default_factory=list)
    review_id: int | None = None
    upstreams_learned: int = 0


InventoryListener = Callable[[InventoryOutcome], None]


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def scrub(value: Any) -> Any:
    """NUL characters out of every string: PostgreSQL refuses them in text, and they mean nothing."""
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, Mapping):
        return {str(k).replace("\x00", ""): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


def os_family(inventory: Mapping[str, Any]) -> str:
    os_ = inventory.get("os")
    name = str(os_.get("name", "") if isinstance(os_, Mapping) else os_ or "").lower()
    if "windows" in name:
        return "windows"
    if any(w in name for w in ("linux", "ubuntu", "debian", "uos", "kylin", "deepin", "centos", "android")):
        return "linux"
    if "mac" in name or "darwin" in name:
        return "darwin"
    return ""


def primary_ip(inventory: Mapping[str, Any]) -> str:
    """The first usable IPv4 (else IPv6) address an inventory reports."""
    found: list[str] = []
    for key in ("ip", "address", "management_ip"):
        if isinstance(inventory.get(key), str):
            found.append(inventory[key])
    nics = inventory.get("nics")
    for nic in nics if isinstance(nics, list) else []:
        if not isinstance(nic, Mapping):
            continue
        for key in ("ips", "addresses", "ipv4", "ip"):
            value = nic.get(key)
            found.extend(v for v in (value if isinstance(value, list) else [value]) if isinstance(v, str))
    usable: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = []
    for text in found:
        try:
            addr = ipaddress.ip_address(text.split("/")[0].split("%")[0])
        except ValueError:
            continue
        if not (addr.is_loopback or addr.is_link_local or addr.is_unspecified or addr.is_multicast):
            usable.append(addr)
    usable.sort(key=lambda a: a.version)
    return str(usable[0]) if usable else ""


def compose_search_text(parts: Iterable[str]) -> str:
    return " ".join(p for p in parts if p).lower()


def search_text(a: Asset) -> str:
    return compose_search_text(
        [
            a.asset_tag or "",
            a.name,
            a.serial or "",
            a.vendor,
            a.model,
            a.department,
            a.notes,
            a.hostname,
            a.ip,
            a.position,
            a.link_device or "",
            a.room.path if a.room else "",
            " ".join(m.mac for m in a.macs),
            " ".join(str(v) for v in (a.custom or {}).values()),
        ]
    )


def asset_fingerprint(a: Asset) -> Fingerprint:
    return Fingerprint(
        smbios_uuid=a.smbios_uuid,
        serial=clean(a.serial),
        board_serial=a.board_serial,
        macs=frozenset(m.mac for m in a.macs),
        disks=frozenset(d.serial for d in a.disks),
        hostname=a.hostname,
        link=(a.link_campus, a.link_device) if a.link_campus and a.link_device else None,
    )


class RegisterService:
    def __init__(self, db: Database) -> None:
        self.db = db
        #: called with every InventoryOutcome after it is committed (the rule engine subscribes here)
        self.listeners: list[InventoryListener] = []

    # -- history ---------------------------------------------------------------------------------
    @staticmethod
    def record(s: Session, asset: Asset, fld: str, old: Any, new: Any, actor: str, at: datetime) -> bool:
        """Append one history row when the value really changes; True if it did."""
        o, n = show(old), show(new)
        if o == n or (not o and not n):
            return False
        s.add(AssetHistory(asset_id=asset.id, at=at, actor=actor, field=fld, old=o, new=n))
        return True

    def assign(self, s: Session, asset: Asset, fld: str, value: Any, actor: str, at: datetime) -> bool:
        if self.record(s, asset, fld, getattr(asset, fld), value, actor, at):
            setattr(asset, fld, value)
            return True
        return False

    # -- campuses, buildings, rooms -------------------------------------------------------------
    @staticmethod
    def ensure_campus(s: Session, name: str) -> Campus:
        campus = s.scalars(select(Campus).where(Campus.name == name)).first()
        if campus is None:
            try:
                with s.begin_nested():  # an import may be creating the same campus right now
                    campus = Campus(name=name)
                    s.add(campus)
                    s.flush()
            except IntegrityError:
                campus = s.scalars(select(Campus).where(Campus.name == name)).one()
        return campus

    def campus_for_link(self, s: Session, code: str) -> Campus:
        """The campus whose MQTT id is `code` (by its code, else by its name; created if new)."""
        campus = s.scalars(select(Campus).where(Campus.code == code)).first()
        if campus is None:
            campus = self.ensure_campus(s, code)
            if campus.code is None:
                campus.code = code
        return campus

    def set_campus_code(self, name: str, code: str, actor: str) -> int:
        """Say which MQTT campus id a campus has; assets registered under a placeholder campus of
        that id move to it (and the placeholder goes). Returns how many assets moved."""
        if not ID_RE.match(code):
            raise RegisterError(
                f"campus id {code!r} does not match {ID_PATTERN} (lower-case letters, digits, _ -)"
            )
        now = utcnow()
        with self.db.session() as s:
            target = s.scalars(select(Campus).where(Campus.name == name)).first()
            if target is None:
                names = list(s.scalars(select(Campus.name)))
                raise RegisterError(f"unknown campus {name!r}{did_you_mean(name, names)}")
            other = s.scalars(
                select(Campus).where(or_(Campus.code == code, Campus.name == code), Campus.id != target.id)
            ).first()
            moved = 0
            if other is not None:
                if other.buildings:
                    raise RegisterError(
                        f"campus {other.name!r} already has code or name {code!r} and has rooms; "
                        "move its assets to rooms of the other campus first"
                    )
                for asset in s.scalars(select(Asset).where(Asset.campus_id == other.id)):
                    self.record(s, asset, "campus", other.name, target.name, actor, now)
                    asset.campus = target
                    asset.updated_at = now
                    moved += 1
                s.flush()
                s.delete(other)
                s.flush()
            target.code = code
            return moved

    def ensure_room(self, s: Session, campus: str, building: str, room: str) -> Room:
        c = self.ensure_campus(s, campus)
        b = s.scalars(select(Building).where(Building.campus_id == c.id, Building.name == building)).first()
        if b is None:
            b = Building(campus_id=c.id, name=building)
            s.add(b)
            s.flush()
        r = s.scalars(select(Room).where(Room.building_id == b.id, Room.name == room)).first()
        if r is None:
            r = Room(building_id=b.id, name=room)
            s.add(r)
            s.flush()
        return r

    def add_room(self, path: str) -> str:
        parts = [p.strip() for p in path.split("/")]
        if len(parts) != 3 or not all(parts):
            raise RegisterError(f"a room is CAMPUS/BUILDING/ROOM, not {path!r}")
        with self.db.session() as s:
            return self.ensure_room(s, *parts).path

    def campuses(self) -> list[tuple[str, str | None]]:
        with self.db.session() as s:
            return [(c.name, c.code) for c in s.scalars(select(Campus).order_by(Campus.name))]

    @staticmethod
    def room_paths(s: Session) -> list[str]:
        rows = s.execute(
            select(Campus.name, Building.name, Room.name)
            .join(Building, Building.campus_id == Campus.id)
            .join(Room, Room.building_id == Building.id)
            .order_by(Campus.name, Building.name, Room.name)
        )
        return [f"{c}/{b}/{r}" for c, b, r in rows]

    def rooms(self) -> list[str]:
        with self.db.session() as s:
            return self.room_paths(s)

    def find_room(self, s: Session, spec: str, campus_hint: str | None = None) -> Room:
        """A room by CAMPUS/BUILDING/ROOM, BUILDING/ROOM or ROOM (when that is unambiguous)."""
        parts = [p.strip() for p in spec.strip().strip("/").split("/")]
        if not parts or not all(parts) or len(parts) > 3:
            raise RegisterError(f"a room is CAMPUS/BUILDING/ROOM, BUILDING/ROOM or ROOM, not {spec!r}")
        q = select(Room).join(Building, Room.building_id == Building.id).join(Campus)
        q = q.where(Room.name == parts[-1])
        if len(parts) >= 2:
            q = q.where(Building.name == parts[-2])
        if len(parts) == 3:
            q = q.where(Campus.name == parts[0])
        found = list(s.scalars(q))
        if len(found) > 1 and campus_hint:
            found = [r for r in found if r.building.campus.name == campus_hint] or found
        if len(found) == 1:
            return found[0]
        paths = self.room_paths(s)
        if not found:
            hint = did_you_mean(spec, paths) or did_you_mean(parts[-1], [p.rsplit("/", 1)[-1] for p in paths])
            raise RegisterError(
                f"unknown room {spec!r}{hint}; add it with `campusmon assets rooms add "
                f"CAMPUS/BUILDING/ROOM` (or import a spreadsheet), list them with `campusmon assets rooms`"
            )
        raise RegisterError(
            f"room {spec!r} is ambiguous: " + ", ".join(r.path for r in found) + "; give BUILDING/ROOM"
        )

    # -- reading ---------------------------------------------------------------------------------
    @staticmethod
    def resolve(s: Session, ref: str | int) -> Asset:
        """An asset by id (a number) or asset tag."""
        text = str(ref).strip()
        asset = s.scalars(select(Asset).where(Asset.asset_tag == text)).first()
        if asset is None and text.isdigit():
            asset = s.get(Asset, int(text))
        if asset is None:
            raise RegisterError(f"no asset with id or tag {text!r}")
        return asset

    def get(self, ref: str | int) -> Asset:
        with self.db.session() as s:
            asset = self.resolve(s, ref)
            _ = asset.macs, asset.disks, asset.inventory
            return asset

    @staticmethod
    def query(flt: AssetFilter) -> Select[Asset]:
        q = (
            select(Asset)
            .outerjoin(Room, Asset.room_id == Room.id)
            .outerjoin(Building, Room.building_id == Building.id)
            .outerjoin(Campus, Asset.campus_id == Campus.id)
        )
        if not flt.include_merged:
            q = q.where(Asset.merged_into.is_(None))
        if flt.campus:
            q = q.where(Campus.name == flt.campus)
        if flt.building:
            q = q.where(Building.name == flt.building)
        if flt.room:
            parts = flt.room.strip("/").split("/")
            q = q.where(Room.name == parts[-1])
            if len(parts) >= 2:
                q = q.where(Building.name == parts[-2])
        if flt.type:
            q = q.where(Asset.type == flt.type)
        if flt.status:
            q = q.where(Asset.status == flt.status)
        if flt.warranty_before:
            q = q.where(Asset.warranty_end.is_not(None), Asset.warranty_end < flt.warranty_before)
        if flt.search:
            for word in flt.search.lower().split():
                escaped = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
                q = q.where(Asset.search_text.like(f"%{escaped}%", escape="\\"))
        return q.order_by(Campus.name, Building.name, Room.name, Asset.asset_tag, Asset.id)

    def list_assets(self, flt: AssetFilter | None = None) -> list[Asset]:
        with self.db.session() as s:
            return list(s.scalars(self.query(flt or AssetFilter())).unique())

    def records(self, flt: AssetFilter | None = None) -> list[dict[str, Any]]:
        """The assets a filter selects as plain column values: no ORM objects, so lists and exports
        of thousands of assets stay fast. Keys are Asset attributes plus campus, building, room, macs."""
        q = self.query(flt or AssetFilter()).with_only_columns(
            *(getattr(Asset, c) for c in _RECORD_COLUMNS),
            Campus.name.label("campus"),
            Building.name.label("building"),
            Room.name.label("room"),
            maintain_column_froms=True,
        )
        with self.db.session() as s:
            records = [dict(row._mapping) for row in s.execute(q)]
            if not records:
                return records
            macs: dict[int, list[str]] = {}
            mac_rows = select(AssetMac.asset_id, AssetMac.mac).order_by(AssetMac.mac)
            if len(records) <= _CHUNK:
                mac_rows = mac_rows.where(AssetMac.asset_id.in_([r["id"] for r in records]))
            for asset_id, mac in s.execute(mac_rows):
                macs.setdefault(asset_id, []).append(mac)
        for r in records:
            r["macs"] = macs.get(r["id"], [])
        return records

    def history(self, ref: str | int, limit: int | None = None) -> list[AssetHistory]:
        with self.db.session() as s:
            asset = self.resolve(s, ref)
            q = select(AssetHistory).where(AssetHistory.asset_id == asset.id)
            q = q.order_by(AssetHistory.id.desc())
            if limit:
                q = q.limit(limit)
            return list(reversed(list(s.scalars(q))))

    # -- manual changes --------------------------------------------------------------------------
    def set(
        self,
        ref: str | int,
        *,
        actor: str,
        values: Mapping[str, str] | None = None,
        room: str | None = None,
        upstream: str | None = None,
        custom: Mapping[str, str] | None = None,
    ) -> int:
        """Validate everything first, then write; returns how many fields changed."""
        parsed = {k: parse_field(k, v) for k, v in (values or {}).items()}
        now = utcnow()
        changed = 0
        with self.db.session() as s:
            asset = self.resolve(s, ref)
            if asset.merged_into is not None:
                raise RegisterError(
                    f"asset #{asset.id} was merged into #{asset.merged_into}; change that one"
                )
            tag = parsed.get("asset_tag")
            if tag and tag != asset.asset_tag:
                other = s.scalars(select(Asset).where(Asset.asset_tag == tag)).first()
                if other is not None:
                    raise RegisterError(f"asset tag {tag!r} already belongs to asset #{other.id}")
            new_room = None
            if room is not None and room.strip():
                new_room = self.find_room(s, room, asset.campus.name if asset.campus else None)
            for key, value in parsed.items():
                changed += self.assign(s, asset, key, value, actor, now)
            if room is not None:
                changed += self.move(s, asset, new_room, actor, now)
            if upstream is not None:
                switch, _, port = upstream.strip().partition(":")
                changed += self.assign(s, asset, "upstream_switch", switch.strip(), actor, now)
                changed += self.assign(s, asset, "upstream_port", port.strip(), actor, now)
                asset.upstream_source = "manual" if switch.strip() else ""
            for key, value in (custom or {}).items():
                current = dict(asset.custom or {})
                if self.record(s, asset, f"custom.{key}", current.get(key), value or None, actor, now):
                    if value:
                        current[key] = value
                    else:
                        current.pop(key, None)
                    asset.custom = current
                    changed += 1
            if changed:
                asset.updated_at = now
                s.flush()
                asset.search_text = search_text(asset)
        return changed

    def move(self, s: Session, asset: Asset, room: Room | None, actor: str, at: datetime) -> int:
        old = asset.room.path if asset.room else None
        new = room.path if room else None
        if not self.record(s, asset, "room", old, new, actor, at):
            return 0
        asset.room = room
        if room is not None and asset.campus is not room.building.campus:
            old_campus = asset.campus.name if asset.campus else None
            self.record(s, asset, "campus", old_campus, room.building.campus.name, actor, at)
            asset.campus = room.building.campus
        return 1

    def create(self, s: Session, actor: str, at: datetime, **values: Any) -> Asset:
        asset = Asset(created_at=at, updated_at=at, custom={}, **values)
        s.add(asset)
        s.flush()
        s.add(
            AssetHistory(
                asset_id=asset.id,
                at=at,
                actor=actor,
                field="created",
                old=None,
                new=asset.asset_tag or asset.name or f"#{asset.id}",
            )
        )
        return asset

    # -- automatic registration ------------------------------------------------------------------
    @staticmethod
    def _candidates(s: Session, fp: Fingerprint) -> list[Asset]:
        conds: list[Any] = []
        if fp.link:
            conds.append(and_(Asset.link_campus == fp.link[0], Asset.link_device == fp.link[1]))
        if fp.smbios_uuid:
            conds.append(Asset.smbios_uuid == fp.smbios_uuid)
        if fp.serial:
            conds.append(func.lower(Asset.serial) == fp.serial.lower())
        if fp.board_serial:
            conds.append(Asset.board_serial == fp.board_serial)
        if fp.macs:
            conds.append(Asset.id.in_(select(AssetMac.asset_id).where(AssetMac.mac.in_(sorted(fp.macs)))))
        if fp.disks:
            disk_owners = select(AssetDisk.asset_id).where(AssetDisk.serial.in_(sorted(fp.disks)))
            conds.append(Asset.id.in_(disk_owners))
        if not conds:
            return []
        return list(s.scalars(select(Asset).where(Asset.merged_into.is_(None), or_(*conds))).unique())

    def record_inventory(self, inv: Inventory, received: datetime | None = None) -> InventoryOutcome:
        """Register or update the asset an inventory belongs to; listeners hear about the outcome."""
        now = received or utcnow()
        data = scrub(inv.inventory) if isinstance(inv.inventory, Mapping) else {}
        identity = scrub(inv.identity)
        is_probe = "fdb" in data or str(identity.get("source", "")).lower() in ("snmp", "probe")
        actor = f"{'probe' if is_probe else 'agent'}:{inv.campus}/{inv.device}"
        fp = fingerprint(identity, data, (inv.campus, inv.device))
        with self.db.session() as s:
            cands = self._candidates(s, fp)
            result: MatchResult = decide(fp, [Candidate(a.id, asset_fingerprint(a)) for a in cands])
            review_id = None
            if result.decision == "match" and result.asset_id is not None:
                asset = next(a for a in cands if a.id == result.asset_id)
                created = False
            else:
                asset = self._create_from(s, inv, data, fp, is_probe, actor, now)
                created = True
                if result.decision == "review" and result.asset_id is not None:
                    review = AssetReview(
                        asset_id=asset.id,
                        candidate_id=result.asset_id,
                        score=result.score.points if result.score else 0,
                        reason=result.reason,
                        created_at=now,
                    )
                    s.add(review)
                    s.flush()
                    review_id = review.id
                    self.record(
                        s,
                        asset,
                        "review",
                        None,
                        f"possibly the same as #{result.asset_id} ({result.reason})",
                        actor,
                        now,
                    )
            if result.tied_with is not None and not self._reviewed(s, result.tied_with, asset.id):
                review = AssetReview(
                    asset_id=result.tied_with,
                    candidate_id=asset.id,
                    score=result.score.points if result.score else 0,
                    reason=f"registered twice? the same evidence matches both ({result.reason})",
                    created_at=now,
                )
                s.add(review)
                s.flush()
                review_id = review.id
            changes: list[Change] = []
            if not created and asset.inventory_hash != inv.hash[:100]:
                changes = diff_inventory(asset.inventory, data)
                for c in changes:
                    old = c.old if c.action != "added" else None
                    new = c.new if c.action != "removed" else None
                    s.add(
                        AssetHistory(asset_id=asset.id, at=now, actor=actor, field=c.field, old=old, new=new)
                    )
            self._apply_identity(s, asset, inv, data, fp, actor, now, initial=created)
            learned = self._learn_fdb(s, inv.campus, inv.device, data.get("fdb"), actor, now)
            outcome = InventoryOutcome(
                campus=inv.campus,
                device=inv.device,
                asset_id=asset.id,
                decision=result.decision,
                reason=result.reason,
                created=created,
                changes=changes,
                review_id=review_id,
                upstreams_learned=learned,
            )
        if created:
            _log.info(
                "asset #%s registered for %s/%s (%s: %s)",
                outcome.asset_id,
                inv.campus,
                inv.device,
                result.decision,
                result.reason,
            )
        for c in changes:
            _log.info("asset #%s (%s/%s): %s", outcome.asset_id, inv.campus, inv.device, c.summary)
        for listener in self.listeners:
            listener(outcome)
        return outcome

    @staticmethod
    def _reviewed(s: Session, a: int, b: int) -> bool:
        """Whether this pair was already put up for review (open, merged or dismissed)."""
        pair = or_(
            and_(AssetReview.asset_id == a, AssetReview.candidate_id == b),
            and_(AssetReview.asset_id == b, AssetReview.candidate_id == a),
        )
        return s.scalars(select(AssetReview.id).where(pair)).first() is not None

    def _create_from(
        self,
        s: Session,
        inv: Inventory,
        data: Mapping[str, Any],
        fp: Fingerprint,
        is_probe: bool,
        actor: str,
        now: datetime,
    ) -> Asset:
        smbios = _mapping(data.get("smbios"))
        declared = str(data.get("type", "")).lower()
        kind = declared if declared in ASSET_TYPES else ("switch" if "fdb" in data else "pc")
        if not is_probe and kind == "pc" and "server" in str(data.get("os", "")).lower():
            kind = "server"
        campus = self.campus_for_link(s, inv.campus)
        return self.create(
            s,
            actor,
            now,
            name=(fp.hostname or inv.device)[:200],
            type=kind,
            vendor=str(smbios.get("vendor") or data.get("vendor") or "")[:100],
            model=str(smbios.get("product") or data.get("model") or "")[:100],
            serial=fp.serial,
            status="in_use",
            campus_id=campus.id,
            link_campus=inv.campus,
            link_device=inv.device,
        )

    def _apply_identity(
        self,
        s: Session,
        asset: Asset,
        inv: Inventory,
        data: Mapping[str, Any],
        fp: Fingerprint,
        actor: str,
        now: datetime,
        initial: bool,
    ) -> None:
        """Take the reported identity; history rows for what changed (none for a brand-new asset,
        whose `created` row says it all; the hostname is in the inventory diff already)."""

        def put(fld: str, value: Any, quiet: bool = False) -> bool:
            if show(getattr(asset, fld)) == show(value):
                return False
            if not (initial or quiet):
                self.record(s, asset, fld, getattr(asset, fld), value, actor, now)
            setattr(asset, fld, value)
            return True

        link_old = f"{asset.link_campus}/{asset.link_device}" if asset.link_device else None
        if link_old != f"{inv.campus}/{inv.device}":
            if not initial:
                self.record(s, asset, "device", link_old, f"{inv.campus}/{inv.device}", actor, now)
            asset.link_campus, asset.link_device = inv.campus, inv.device
        if asset.campus_id is None:
            asset.campus_id = self.campus_for_link(s, inv.campus).id
        for fld, value in (("smbios_uuid", fp.smbios_uuid), ("board_serial", fp.board_serial)):
            if value:
                put(fld, value)
        if fp.serial and not clean(asset.serial):
            put("serial", fp.serial)
        smbios = _mapping(data.get("smbios"))
        if not asset.vendor and smbios.get("vendor"):
            put("vendor", str(smbios["vendor"])[:100])
        if not asset.model and smbios.get("product"):
            put("model", str(smbios["product"])[:100])
        if fp.hostname:
            put("hostname", fp.hostname[:100], quiet=True)
        if ip := primary_ip(data):
            put("ip", ip)
        if family := os_family(data):
            put("os_family", family)
        if fp.disks and {d.serial for d in asset.disks} != fp.disks:
            have = {d.serial: d for d in asset.disks}
            asset.disks = [have.get(x) or AssetDisk(serial=x) for x in sorted(fp.disks)]
        old_macs = sorted(m.mac for m in asset.macs)
        if fp.macs and old_macs != sorted(fp.macs):
            if not initial:
                self.record(s, asset, "macs", old_macs, sorted(fp.macs), actor, now)
            keep = {m.mac: m for m in asset.macs}
            asset.macs = [keep.get(mac) or AssetMac(mac=mac) for mac in sorted(fp.macs)]
        asset.inventory = dict(data)
        asset.inventory_hash = inv.hash[:100]
        asset.inventory_at = now
        asset.updated_at = now
        s.flush()
        asset.search_text = search_text(asset)

    def _learn_fdb(self, s: Session, campus: str, switch: str, fdb: Any, actor: str, now: datetime) -> int:
        """Upstream (switch, port) of each registered device whose MAC the switch learned."""
        if not isinstance(fdb, list):
            return 0
        entries: list[tuple[str, str]] = []
        for e in fdb:
            if isinstance(e, Mapping) and (mac := normalize_mac(e.get("mac"))) and e.get("port") is not None:
                entries.append((mac, str(e["port"]).strip()[:64]))
        if not entries:
            return 0
        per_port = Counter(port for _, port in set(entries))
        owners: dict[str, Asset] = {}
        macs = sorted({m for m, _ in entries})
        for chunk in _chunks(macs):
            rows = s.execute(
                select(AssetMac.mac, Asset)
                .join(Asset, Asset.id == AssetMac.asset_id)
                .where(AssetMac.mac.in_(chunk), Asset.merged_into.is_(None))
            )
            for mac, owner in rows:
                if owner.link_campus in (None, campus):
                    owners[mac] = owner
        uplinks = {p for p, n in per_port.items() if n > FDB_MAX_MACS_PER_ACCESS_PORT}
        uplinks |= {p for m, p in entries if m in owners and owners[m].type in ("switch", "ap")}
        learned = 0
        for mac, port in entries:
            found = owners.get(mac)
            if found is None:
                continue
            asset = found
            if port in uplinks or asset.link_device == switch:
                continue
            if asset.upstream_source == "manual":
                continue
            if (asset.upstream_switch, asset.upstream_port) == (switch, port):
                continue
            old = f"{asset.upstream_switch}:{asset.upstream_port}" if asset.upstream_switch else None
            self.record(s, asset, "upstream", old, f"{switch}:{port}", actor, now)
            asset.upstream_switch, asset.upstream_port = switch[:64], port
            asset.upstream_source = "learned"
            asset.updated_at = now
            learned += 1
        return learned

    # -- review, merge, split --------------------------------------------------------------------
    def reviews(self, status: str | None = "open") -> list[AssetReview]:
        with self.db.session() as s:
            q = select(AssetReview).order_by(AssetReview.id)
            if status:
                q = q.where(AssetReview.status == status)
            return list(s.scalars(q))

    def dismiss(self, review_id: int, actor: str) -> None:
        now = utcnow()
        with self.db.session() as s:
            review = s.get(AssetReview, review_id)
            if review is None:
                raise RegisterError(f"no review #{review_id}")
            if review.status != "open":
                raise RegisterError(f"review #{review_id} is already {review.status}")
            review.status, review.resolved_at, review.resolved_by = "dismissed", now, actor
            asset = s.get(Asset, review.asset_id)
            if asset is not None:
                self.record(
                    s,
                    asset,
                    "review",
                    f"possibly the same as #{review.candidate_id}",
                    f"different from #{review.candidate_id}",
                    actor,
                    now,
                )

    def merge(self, keep_ref: str | int, other_ref: str | int, actor: str) -> int:
        """Fold asset B into A: A keeps its register fields (filling gaps from B), B's history moves
        to A, B stays as an empty record pointing at A so its id still explains itself."""
        now = utcnow()
        with self.db.session() as s:
            keep = self.resolve(s, keep_ref)
            other = self.resolve(s, other_ref)
            if keep.id == other.id:
                raise RegisterError("an asset cannot be merged with itself")
            for a in (keep, other):
                if a.merged_into is not None:
                    raise RegisterError(f"asset #{a.id} was already merged into #{a.merged_into}")
            s.execute(update(AssetHistory).where(AssetHistory.asset_id == other.id).values(asset_id=keep.id))
            for fld in (
                "name",
                "vendor",
                "model",
                "serial",
                "purchase_date",
                "price",
                "warranty_end",
                "department",
                "position",
                "notes",
                "ip",
                "os_family",
                "smbios_uuid",
                "board_serial",
                "hostname",
            ):
                if not getattr(keep, fld) and getattr(other, fld):
                    self.assign(s, keep, fld, getattr(other, fld), actor, now)
            if keep.room is None and other.room is not None:
                self.move(s, keep, other.room, actor, now)
            if other.inventory_at and (keep.inventory_at is None or other.inventory_at >= keep.inventory_at):
                link_old = f"{keep.link_campus}/{keep.link_device}" if keep.link_device else None
                self.record(
                    s, keep, "device", link_old, f"{other.link_campus}/{other.link_device}", actor, now
                )
                keep.link_campus, keep.link_device = other.link_campus, other.link_device
                for fld in ("smbios_uuid", "board_serial", "hostname", "ip", "os_family"):
                    if getattr(other, fld):  # the machine that reports now is the one to recognise
                        self.assign(s, keep, fld, getattr(other, fld), actor, now)
                keep.inventory, keep.inventory_hash = other.inventory, other.inventory_hash
                keep.inventory_at = other.inventory_at
                serials = {d.serial for d in other.disks}
                other.disks = []
                s.flush()
                have_disks = {d.serial: d for d in keep.disks}
                keep.disks = [
                    have_disks.get(x) or AssetDisk(serial=x) for x in sorted(serials | set(have_disks))
                ]
            macs = sorted({m.mac for m in keep.macs} | {m.mac for m in other.macs})
            if self.record(s, keep, "macs", sorted(m.mac for m in keep.macs), macs, actor, now):
                have = {m.mac: m for m in keep.macs}
                other.macs = []
                s.flush()
                keep.macs = [have.get(m) or AssetMac(mac=m) for m in macs]
            if other.asset_tag and not keep.asset_tag:
                tag = other.asset_tag
                other.asset_tag = None
                s.flush()
                self.assign(s, keep, "asset_tag", tag, actor, now)
            self.record(s, keep, "merged", None, f"#{other.id} merged into this asset", actor, now)
            self.record(s, other, "merged_into", None, f"#{keep.id}", actor, now)
            other.merged_into = keep.id
            other.link_campus = other.link_device = None
            other.smbios_uuid = other.board_serial = None
            other.macs = []
            other.disks = []
            other.updated_at = keep.updated_at = now
            for review in s.scalars(
                select(AssetReview).where(
                    AssetReview.status == "open",
                    or_(
                        and_(AssetReview.asset_id == other.id, AssetReview.candidate_id == keep.id),
                        and_(AssetReview.asset_id == keep.id, AssetReview.candidate_id == other.id),
                    ),
                )
            ):
                review.status, review.resolved_at, review.resolved_by = "merged", now, actor
            s.flush()
            keep.search_text = search_text(keep)
            other.search_text = ""
            return keep.id

    def split(self, ref: str | int, actor: str) -> int:
        """Undo a wrong automatic match: the reporting machine (device id, hardware identity,
        inventory) moves to a new asset; the register fields and the history stay where they were."""
        now = utcnow()
        with self.db.session() as s:
            asset = self.resolve(s, ref)
            if not asset.link_device:
                raise RegisterError(f"asset #{asset.id} has no reporting device to split off")
            data = asset.inventory or {}
            new = self.create(
                s,
                actor,
                now,
                name=asset.hostname or asset.link_device,
                type=asset.type,
                status="in_use",
                campus_id=asset.campus_id,
                link_campus=asset.link_campus,
                link_device=asset.link_device,
                smbios_uuid=asset.smbios_uuid,
                board_serial=asset.board_serial,
                hostname=asset.hostname,
                ip=asset.ip,
                os_family=asset.os_family,
                inventory=data,
                inventory_hash=asset.inventory_hash,
                inventory_at=asset.inventory_at,
            )
            disks = [d.serial for d in asset.disks]
            macs = [m.mac for m in asset.macs]
            self.record(s, new, "split_from", None, f"#{asset.id}", actor, now)
            self.record(s, new, "device", None, f"{asset.link_campus}/{asset.link_device}", actor, now)
            self.record(s, new, "macs", None, macs, actor, now)
            self.record(s, asset, "split", None, f"reporting device moved to #{new.id}", actor, now)
            self.record(s, asset, "device", f"{asset.link_campus}/{asset.link_device}", None, actor, now)
            self.record(s, asset, "macs", macs, None, actor, now)
            asset.macs = []
            asset.disks = []
            s.flush()
            new.macs = [AssetMac(mac=m) for m in macs]
            new.disks = [AssetDisk(serial=x) for x in disks]
            asset.link_campus = asset.link_device = None
            asset.smbios_uuid = asset.board_serial = None
            asset.hostname, asset.inventory, asset.inventory_hash = "", None, None
            asset.updated_at = now
            s.flush()
            asset.search_text, new.search_text = search_text(asset), search_text(new)
            return new.id
