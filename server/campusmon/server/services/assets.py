"""The asset register for people: search, edit, history, spreadsheet import/export, labels, the rooms
tree, the review list, and each room's report token (its QR code)."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select

from ..console_models import RoomToken
from ..db import Database, as_utc, utcnow
from ..register.fields import EDITABLE, RegisterError
from ..register.labels import Label, write_labels
from ..register.models import Asset, AssetHistory, AssetReview, Building, Campus, Room
from ..register.service import AssetFilter, RegisterService, search_text
from ..register.spreadsheet import (
    Importer,
    SpreadsheetError,
    export_csv,
    export_records,
    export_xlsx,
)
from . import Actor, Conflict, Invalid, NotFound, Page, PageRequest
from .users import audit

#: what a technician may change; an admin may change every register field
TECHNICIAN_FIELDS = ("status", "notes", "position")
MAX_UPLOAD_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class AssetView:
    id: int
    asset_tag: str | None
    name: str
    type: str
    status: str
    campus: str
    building: str
    room: str
    vendor: str
    model: str
    serial: str | None
    ip: str
    department: str
    warranty_end: date | None
    link_campus: str | None
    link_device: str | None


@dataclass(frozen=True, slots=True)
class AssetDetail:
    asset: AssetView
    position: str
    notes: str
    purchase_date: date | None
    price: Decimal | None
    macs: list[str]
    upstream: str
    custom: dict[str, str]
    inventory: dict[str, Any]
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class AssetChange:
    at: datetime
    actor: str
    field: str
    old: str | None
    new: str | None


@dataclass(frozen=True, slots=True)
class RowProblem:
    line: int
    reason: str


@dataclass(frozen=True, slots=True)
class ImportResult:
    source: str
    encoding: str
    dry_run: bool
    created: int
    updated: int
    unchanged: int
    errors: list[RowProblem]
    warnings: list[str]


@dataclass(frozen=True, slots=True)
class RoomNode:
    id: int
    name: str
    assets: int


@dataclass(frozen=True, slots=True)
class BuildingNode:
    id: int
    name: str
    rooms: list[RoomNode]


@dataclass(frozen=True, slots=True)
class CampusNode:
    id: int
    name: str
    code: str | None
    buildings: list[BuildingNode]


@dataclass(frozen=True, slots=True)
class RoomPlace:
    """A room as the teacher page and tickets see it."""

    id: int
    campus: str
    #: the campus id its devices use in MQTT topics (the code, else the name)
    campus_code: str
    building: str
    room: str

    @property
    def path(self) -> str:
        """BUILDING/ROOM, how tickets name a room."""
        return f"{self.building}/{self.room}"


@dataclass(frozen=True, slots=True)
class ReviewView:
    id: int
    asset_id: int
    candidate_id: int
    score: int
    reason: str
    status: str
    created_at: datetime


#: the Asset columns of an AssetView, in the order `page()` selects them
_VIEW_ASSET_COLUMNS = (
    "id", "asset_tag", "name", "type", "status", "vendor", "model", "serial", "ip", "department",
    "warranty_end", "link_campus", "link_device",
)  # fmt: skip


def _view(a: Asset) -> AssetView:
    return AssetView(
        a.id,
        a.asset_tag,
        a.name,
        a.type,
        a.status,
        a.campus.name if a.campus else "",
        a.room.building.name if a.room else "",
        a.room.name if a.room else "",
        a.vendor,
        a.model,
        a.serial,
        a.ip,
        a.department,
        a.warranty_end,
        a.link_campus,
        a.link_device,
    )


class AssetService:
    def __init__(self, db: Database) -> None:
        self.db = db
        self.register = RegisterService(db)

    # -- reading -----------------------------------------------------------------------------------
    def page(self, flt: AssetFilter, page: PageRequest) -> Page[AssetView]:
        """One page of the register: the count, then only the columns a list shows (no ORM objects,
        no eager loads of rooms, buildings and MACs for 50 rows)."""
        q = self.register.query(flt)
        rows_q = q.with_only_columns(
            *(getattr(Asset, c) for c in _VIEW_ASSET_COLUMNS),
            Campus.name,
            Building.name,
            Room.name,
            maintain_column_froms=True,
        )
        with self.db.session() as s:
            total = int(
                s.scalar(
                    # the count needs no order: sorting 10,000 rows to count them cost 15 ms
                    select(func.count()).select_from(q.with_only_columns(Asset.id).order_by(None).subquery())
                )
                or 0
            )
            items = [
                AssetView(
                    aid, tag, name, typ, status, campus or "", building or "", room or "",
                    vendor, model, serial, ip, department, warranty, lc, ld,
                )  # fmt: skip
                for (aid, tag, name, typ, status, vendor, model, serial, ip, department, warranty, lc, ld,
                     campus, building, room) in s.execute(rows_q.offset(page.offset).limit(page.per_page))
            ]  # fmt: skip
        return Page(items, total, page.page, page.per_page)

    def get(self, asset_id: int) -> AssetDetail:
        with self.db.session() as s:
            a = s.get(Asset, asset_id)
            if a is None:
                raise NotFound(f"no asset #{asset_id}")
            upstream = f"{a.upstream_switch}:{a.upstream_port}".strip(":") if a.upstream_switch else ""
            return AssetDetail(
                _view(a),
                a.position,
                a.notes,
                a.purchase_date,
                a.price,
                [m.mac for m in a.macs],
                upstream,
                dict(a.custom or {}),
                dict(a.inventory or {}),
                as_utc(a.updated_at) or utcnow(),
            )

    def history(self, asset_id: int, limit: int = 200) -> list[AssetChange]:
        with self.db.session() as s:
            if s.get(Asset, asset_id) is None:
                raise NotFound(f"no asset #{asset_id}")
            rows = s.scalars(
                select(AssetHistory)
                .where(AssetHistory.asset_id == asset_id)
                .order_by(AssetHistory.id.desc())
                .limit(limit)
            )
            return [AssetChange(as_utc(h.at) or utcnow(), h.actor, h.field, h.old, h.new) for h in rows]

    # -- writing -----------------------------------------------------------------------------------
    @staticmethod
    def _allowed(actor: Actor, values: Mapping[str, str], room: str | None) -> None:
        if actor.role == "admin":
            return
        extra = sorted(set(values) - set(TECHNICIAN_FIELDS))
        if extra:
            raise PermissionError(f"a technician may change location, status and notes, not {extra[0]}")
        _ = room  # technicians may move assets between rooms

    def update(
        self, asset_id: int, values: Mapping[str, str], *, actor: Actor, room: str | None = None
    ) -> AssetDetail:
        values = {k: v for k, v in values.items()}
        unknown = [k for k in values if k not in EDITABLE]
        if unknown:
            raise Invalid(f"unknown field {unknown[0]!r}")
        self._allowed(actor, values, room)
        before = self.get(asset_id)
        try:
            changed = self.register.set(asset_id, actor=actor.label, values=values, room=room)
        except RegisterError as exc:
            raise Invalid(str(exc)) from None
        if changed:
            after = self.get(asset_id)
            with self.db.session() as s:
                audit(
                    s,
                    actor,
                    "asset.update",
                    f"asset:{asset_id}",
                    {k: _shown(getattr(before.asset, k, None) or getattr(before, k, None)) for k in values}
                    | ({"room": before.asset.room} if room is not None else {}),
                    {k: _shown(getattr(after.asset, k, None) or getattr(after, k, None)) for k in values}
                    | ({"room": after.asset.room} if room is not None else {}),
                )
        return self.get(asset_id)

    def create(self, values: Mapping[str, str], *, actor: Actor, room: str | None = None) -> AssetDetail:
        if actor.role != "admin":
            raise PermissionError("only an admin adds assets")
        if not (values.get("asset_tag") or values.get("name")):
            raise Invalid("an asset needs an asset tag or a name")
        unknown = [k for k in values if k not in EDITABLE]
        if unknown:
            raise Invalid(f"unknown field {unknown[0]!r}")
        from ..register.fields import parse_field

        try:
            parsed = {k: parse_field(k, v) for k, v in values.items() if v.strip()}
        except RegisterError as exc:
            raise Invalid(str(exc)) from None
        now = utcnow()
        with self.db.session() as s:
            tag = parsed.get("asset_tag")
            if tag and s.scalar(select(Asset.id).where(Asset.asset_tag == tag)) is not None:
                raise Conflict(f"asset tag {tag!r} exists")
            where = None
            if room:
                try:
                    where = self.register.find_room(s, room)
                except RegisterError as exc:
                    raise Invalid(str(exc)) from None
            asset = self.register.create(s, actor.label, now, **parsed)
            if where is not None:
                asset.room = where
                asset.campus = where.building.campus
            s.flush()
            asset.search_text = search_text(asset)
            audit(s, actor, "asset.create", f"asset:{asset.id}", None, {k: str(v) for k, v in parsed.items()})
            new_id = asset.id
        return self.get(new_id)

    # -- spreadsheets and labels -----------------------------------------------------------------
    def import_file(self, data: bytes, filename: str, *, actor: Actor, dry_run: bool) -> ImportResult:
        if len(data) > MAX_UPLOAD_BYTES:
            raise Invalid(f"the file is larger than {MAX_UPLOAD_BYTES // 1024 // 1024} MiB")
        suffix = Path(filename).suffix.lower()
        if suffix not in (".csv", ".xlsx"):
            raise Invalid("upload a .csv (UTF-8 or GB18030) or .xlsx file")
        name = Path(filename).name[:100] or f"upload{suffix}"
        with tempfile.TemporaryDirectory(prefix="campusmon-import-") as tmp:
            path = Path(tmp) / name
            path.write_bytes(data)
            try:
                report = Importer(self.register, actor=f"import:{name} ({actor.label})").run(
                    path, dry_run=dry_run
                )
            except SpreadsheetError as exc:
                raise Invalid(str(exc)) from None
        result = ImportResult(
            report.source,
            report.encoding,
            dry_run,
            report.created,
            report.updated,
            report.unchanged,
            [RowProblem(e.line, e.reason) for e in report.errors],
            list(report.warnings),
        )
        if not dry_run:
            with self.db.session() as s:
                audit(
                    s,
                    actor,
                    "asset.import",
                    f"file:{name}",
                    None,
                    {"created": report.created, "updated": report.updated, "errors": len(report.errors)},
                )
        return result

    def export(self, flt: AssetFilter, fmt: Literal["csv", "xlsx"], lang: Literal["zh-CN", "en"]) -> bytes:
        records = export_records(self.register, flt)
        with tempfile.TemporaryDirectory(prefix="campusmon-export-") as tmp:
            out = Path(tmp) / f"assets.{fmt}"
            (export_csv if fmt == "csv" else export_xlsx)(records, out, "zh" if lang == "zh-CN" else "en")
            return out.read_bytes()

    def labels(self, flt: AssetFilter) -> bytes:
        assets = self.register.list_assets(flt)
        items = [
            Label(
                a.asset_tag or f"#{a.id}",
                a.name,
                f"{a.room.building.name} {a.room.name}" if a.room else (a.campus.name if a.campus else ""),
            )
            for a in assets
        ]
        if not items:
            raise NotFound("no asset matches the filters")
        return _pdf(items)

    def room_labels(self, base_url: str, room_ids: list[int] | None = None) -> bytes:
        """One QR label per room: scanning it opens the teacher's fault report for that room."""
        labels = [
            Label(
                f"{r.building} {r.room}",
                "扫码报修 Report a fault",
                r.campus,
                qr=f"{base_url.rstrip('/')}/r/{token}",
            )
            for r, token in self.room_tokens(room_ids)
        ]
        if not labels:
            raise NotFound("no room in the register")
        return _pdf(labels)

    # -- rooms -------------------------------------------------------------------------------------
    def rooms_tree(self) -> list[CampusNode]:
        with self.db.session() as s:
            counts = dict(
                s.execute(
                    select(Asset.room_id, func.count(Asset.id))
                    .where(Asset.merged_into.is_(None), Asset.room_id.is_not(None))
                    .group_by(Asset.room_id)
                ).all()
            )
            out = []
            for c in s.scalars(select(Campus).order_by(Campus.name)):
                out.append(
                    CampusNode(
                        c.id,
                        c.name,
                        c.code,
                        [
                            BuildingNode(
                                b.id, b.name, [RoomNode(r.id, r.name, counts.get(r.id, 0)) for r in b.rooms]
                            )
                            for b in c.buildings
                        ],
                    )
                )
            return out

    def room(self, room_id: int) -> RoomPlace:
        with self.db.session() as s:
            r = s.get(Room, room_id)
            if r is None:
                raise NotFound(f"no room #{room_id}")
            return _place(r)

    def room_tokens(self, room_ids: list[int] | None = None) -> list[tuple[RoomPlace, str]]:
        """Each room with its report token (made on first use)."""
        with self.db.session() as s:
            q = select(Room).join(Building).join(Campus).order_by(Campus.name, Building.name, Room.name)
            if room_ids:
                q = q.where(Room.id.in_(room_ids))
            rooms = list(s.scalars(q))
            have = {t.room_id: t.token for t in s.scalars(select(RoomToken))}
            out = []
            for r in rooms:
                token = have.get(r.id)
                if token is None:
                    token = secrets.token_urlsafe(12)
                    s.add(RoomToken(room_id=r.id, token=token, created_at=utcnow()))
                out.append((_place(r), token))
            return out

    def room_token(self, room_id: int) -> str:
        found = self.room_tokens([room_id])
        if not found:
            raise NotFound(f"no room #{room_id}")
        return found[0][1]

    def rotate_room_token(self, room_id: int, *, actor: Actor) -> str:
        """A new QR code for the room; the old one stops working (a code photographed and abused)."""
        token = secrets.token_urlsafe(12)
        with self.db.session() as s:
            if s.get(Room, room_id) is None:
                raise NotFound(f"no room #{room_id}")
            row = s.scalars(select(RoomToken).where(RoomToken.room_id == room_id)).first()
            if row is None:
                s.add(RoomToken(room_id=room_id, token=token, created_at=utcnow()))
            else:
                row.token, row.created_at = token, utcnow()
            audit(s, actor, "room.rotate_token", f"room:{room_id}")
        return token

    def room_by_token(self, token: str) -> RoomPlace | None:
        if not token or len(token) > 64:
            return None
        with self.db.session() as s:
            row = s.scalars(select(RoomToken).where(RoomToken.token == token)).first()
            if row is None:
                return None
            r = s.get(Room, row.room_id)
            return None if r is None else _place(r)

    # -- review list -------------------------------------------------------------------------------
    def reviews(self) -> list[ReviewView]:
        return [
            ReviewView(
                r.id,
                r.asset_id,
                r.candidate_id,
                r.score,
                r.reason,
                r.status,
                as_utc(r.created_at) or utcnow(),
            )
            for r in self.register.reviews("open")
        ]

    def merge(self, review_id: int, *, actor: Actor) -> int:
        with self.db.session() as s:
            review = s.get(AssetReview, review_id)
            if review is None or review.status != "open":
                raise NotFound(f"no open review #{review_id}")
            keep, other = review.candidate_id, review.asset_id
        try:
            kept = self.register.merge(keep, other, actor.label)
        except RegisterError as exc:
            raise Conflict(str(exc)) from None
        with self.db.session() as s:
            audit(s, actor, "asset.merge", f"asset:{keep}", None, {"merged": other, "review": review_id})
        return kept

    def dismiss(self, review_id: int, *, actor: Actor) -> None:
        try:
            self.register.dismiss(review_id, actor.label)
        except RegisterError as exc:
            raise Conflict(str(exc)) from None
        with self.db.session() as s:
            audit(s, actor, "asset.review_dismiss", f"review:{review_id}")

    def count(self) -> int:
        with self.db.session() as s:
            return int(s.scalar(select(func.count(Asset.id)).where(Asset.merged_into.is_(None))) or 0)


def _shown(value: Any) -> str | None:
    return None if value is None else str(value)


def _place(r: Room) -> RoomPlace:
    c = r.building.campus
    return RoomPlace(r.id, c.name, c.code or c.name, r.building.name, r.name)


def _pdf(items: list[Label]) -> bytes:
    with tempfile.TemporaryDirectory(prefix="campusmon-labels-") as tmp:
        out = Path(tmp) / "labels.pdf"
        write_labels(items, out)
        return out.read_bytes()
