"""The school's spreadsheet: import (CSV in UTF-8 or GB18030, or XLSX) and export (CSV or XLSX).

Import reports every bad row by line number and keeps the good ones, all in one transaction; a re-import
updates the assets it finds (by register id, then asset tag, then serial) instead of duplicating them.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from ..db import utcnow
from .fields import (
    RegisterError,
    category_type,
    parse_date,
    parse_price,
    parse_status,
    parse_tag,
    parse_type,
    show,
)
from .formulas import neutralise, restore
from .identity import clean
from .models import Asset, AssetHistory, Building, Campus, Room
from .service import AssetFilter, RegisterService, compose_search_text, search_text

_log = logging.getLogger(__name__)

#: (key, Chinese header, English header) of the columns a school's spreadsheet may have
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("asset_tag", "资产编号", "asset_tag"),
    ("name", "名称", "name"),
    ("type", "类型", "type"),
    ("campus", "校区", "campus"),
    ("building", "楼栋", "building"),
    ("room", "房间", "room"),
    ("position", "位置", "position"),
    ("serial", "序列号", "serial"),
    ("vendor", "品牌", "vendor"),
    ("model", "型号", "model"),
    ("purchase_date", "购置日期", "purchase_date"),
    ("price", "价格", "price"),
    ("warranty_end", "保修截止", "warranty_end"),
    ("department", "使用部门", "department"),
    ("status", "状态", "status"),
    ("notes", "备注", "notes"),
)
#: written by export for reference; import matches on register_id and ignores the rest
EXPORT_ONLY: tuple[tuple[str, str, str], ...] = (
    ("register_id", "登记编号", "register_id"),
    ("macs", "MAC地址", "macs"),
    ("ip", "IP地址", "ip"),
    ("upstream", "上联", "upstream"),
    ("device", "设备ID", "device"),
)
_ALIASES = {
    "资产编码": "asset_tag",
    "资产标签": "asset_tag",
    "tag": "asset_tag",
    "设备名称": "name",
    "资产名称": "name",
    "sn": "serial",
    "序列号/sn": "serial",
    "厂商": "vendor",
    "品牌厂商": "vendor",
    "规格型号": "model",
    "购买日期": "purchase_date",
    "购置时间": "purchase_date",
    "单价": "price",
    "金额": "price",
    "保修期至": "warranty_end",
    "保修到期": "warranty_end",
    "部门": "department",
    "使用人": "department",
    "教学楼": "building",
    "楼宇": "building",
    "教室": "room",
    "房间号": "room",
    "使用状态": "status",
    # a category column (an asset system's 类别): its words map to a type, unknown ones to `other`
    "类别": "category",
    "设备类别": "category",
    "资产类别": "category",
    "资产分类": "category",
    "分类": "category",
    "category": "category",
}
TYPE_ZH = {
    "pc": "电脑",
    "panel": "交互平板",
    "switch": "交换机",
    "ap": "无线AP",
    "printer": "打印机",
    "projector": "投影仪",
    "server": "服务器",
    "camera": "摄像头",
    "other": "其他",
}
STATUS_ZH = {"in_use": "在用", "in_repair": "维修中", "spare": "备用", "retired": "报废", "lost": "丢失"}


def _header_key(text: str) -> str:
    return unicodedata.normalize("NFKC", text).replace("\ufeff", "").strip().lower().replace(" ", "_")


HEADER_MAP: dict[str, str] = {}
for _key, _zh, _en in (*COLUMNS, *EXPORT_ONLY):
    HEADER_MAP[_header_key(_zh)] = _key
    HEADER_MAP[_header_key(_en)] = _key
HEADER_MAP.update({_header_key(k): v for k, v in _ALIASES.items()})


@dataclass(frozen=True)
class RowError:
    line: int
    reason: str


@dataclass
class ImportReport:
    source: str
    encoding: str = ""
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False
    #: rows whose 类别/category word is not known: (line, word); they get type `other`
    other_rows: list[tuple[int, str]] = field(default_factory=list)

    @property
    def good(self) -> int:
        return self.created + self.updated + self.unchanged


class SpreadsheetError(RegisterError):
    """The file as a whole cannot be read (encoding, no header, no known column)."""


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


#: what openpyxl, zipfile and the XML parsers raise on a file that is not a sound workbook
_XLSX_ERRORS = (
    zipfile.BadZipFile,
    zlib.error,
    EOFError,
    OSError,
    KeyError,
    IndexError,
    TypeError,
    ValueError,
    SyntaxError,
)
_CHUNK = 1 << 20


def sniff_encoding(path: Path) -> str:
    """UTF-8 (with or without BOM), else GB18030, decided by reading the file through once in chunks."""
    for encoding in ("utf-8-sig", "gb18030"):
        decoder = codecs.getincrementaldecoder(encoding)()
        try:
            with path.open("rb") as fh:
                while chunk := fh.read(_CHUNK):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        except OSError as exc:
            raise SpreadsheetError(f"cannot read {path}: {exc}") from exc
        return encoding
    raise SpreadsheetError("the file is neither UTF-8 nor GB18030 text")


def _xlsx_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    try:
        wb = load_workbook(path, read_only=True, data_only=True)
        try:
            ws = wb.worksheets[0]
            for i, r in enumerate(ws.iter_rows(values_only=True), 1):
                yield i, [_cell(v) for v in r]
        finally:
            wb.close()
    except (InvalidFileException, *_XLSX_ERRORS) as exc:
        raise SpreadsheetError(f"cannot read {path.name} as XLSX (is it a real .xlsx file?): {exc}") from None


def _csv_rows(path: Path, encoding: str) -> Iterator[tuple[int, list[str]]]:
    try:
        with path.open("r", encoding=encoding, newline="") as fh:
            reader = csv.reader(fh)
            start = 1
            try:
                for cells in reader:
                    yield start, cells
                    start = reader.line_num + 1
            except csv.Error as exc:
                raise SpreadsheetError(f"line {reader.line_num}: not valid CSV: {exc}") from exc
    except OSError as exc:
        raise SpreadsheetError(f"cannot read {path}: {exc}") from exc


def stream_table(path: Path) -> tuple[list[str], Iterator[tuple[int, list[str]]], str]:
    """(header, (line number, cells) of each further non-empty row, encoding) of a CSV or XLSX file.

    The rows are read as they are used, so a file of any size takes little memory.
    """
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        rows, encoding = _xlsx_rows(path), "xlsx"
    else:
        encoding = sniff_encoding(path)
        rows = _csv_rows(path, encoding)
    filled = ((n, cells) for n, cells in rows if any(c.strip() for c in cells))
    first = next(filled, None)
    if first is None:
        raise SpreadsheetError(f"{path.name} is empty")
    return first[1], filled, encoding


def read_table(path: Path) -> tuple[list[str], list[tuple[int, list[str]]], str]:
    """(header, [(line number, cells)], encoding) of a CSV or XLSX file, all in memory."""
    header, rows, encoding = stream_table(path)
    return header, list(rows), encoding


@dataclass
class _Row:
    line: int
    values: dict[str, str]


#: new assets are inserted this many at a time (the transaction stays one)
INSERT_BATCH = 5000


class _DryRun(Exception):
    """Raised inside the import transaction so a dry run rolls everything back."""


class Importer:
    """Validate every row, then write all good rows in one transaction (or none on a dry run)."""

    def __init__(self, service: RegisterService, actor: str, default_campus: str | None = None) -> None:
        self.service = service
        self.actor = actor
        self.default_campus = default_campus

    def run(self, path: Path, *, dry_run: bool = False) -> ImportReport:
        header, rows, encoding = stream_table(path)
        report = ImportReport(source=path.name, encoding=encoding, dry_run=dry_run)
        columns: list[str | None] = []
        for h in header:
            key = HEADER_MAP.get(_header_key(h))
            if key is None and h.strip():
                report.warnings.append(f"column {h.strip()!r} is not a register field: ignored")
            columns.append(key)
        known = {c for c in columns if c}
        if not known & {"asset_tag", "serial", "register_id"}:
            raise SpreadsheetError(
                "no 资产编号/asset_tag or 序列号/serial column in the header: "
                + ", ".join(repr(h) for h in header[:20])
            )

        def parsed() -> Iterator[_Row]:
            for line, cells in rows:
                if len(cells) > len(columns) and any(c.strip() for c in cells[len(columns) :]):
                    report.errors.append(RowError(line, f"{len(cells)} cells but {len(columns)} columns"))
                    continue
                values = {
                    key: restore(cells[i].strip())
                    for i, key in enumerate(columns)
                    if key and i < len(cells) and cells[i].strip()
                }
                yield _Row(line, values)

        try:
            with self.service.db.session() as s, s.no_autoflush:
                self._apply(s, parsed(), report, utcnow(), write=not dry_run)
                if dry_run:
                    raise _DryRun
        except _DryRun:
            pass
        report.errors.sort(key=lambda e: e.line)
        if report.other_rows:
            shown = ", ".join(f"line {n} {w!r}" for n, w in report.other_rows[:20])
            more = f" and {len(report.other_rows) - 20} more" if len(report.other_rows) > 20 else ""
            report.warnings.append(
                f"{len(report.other_rows)} row(s) fell back to type 'other' (category word not known): "
                f"{shown}{more}; give them a 类型/type column, or use a known word (台式机, 一体机, 交换机…)"
            )
        return report

    def _apply(
        self, s: Session, rows: Iterable[_Row], report: ImportReport, now: datetime, *, write: bool = True
    ) -> None:
        by_id: dict[int, Asset] = {}
        by_tag: dict[str, Asset] = {}
        by_serial: dict[str, list[Asset]] = {}
        for a in s.scalars(select(Asset).where(Asset.merged_into.is_(None))):
            by_id[a.id] = a
            if a.asset_tag:
                by_tag[a.asset_tag] = a
            if a.serial and clean(a.serial):
                by_serial.setdefault(a.serial.lower(), []).append(a)
        rooms: dict[tuple[str, str, str], Room] = {}
        for r in s.scalars(select(Room)):
            rooms[(r.building.campus.name, r.building.name, r.name)] = r
        buildings = {(b.campus.name, b.name): b for b in s.scalars(select(Building))}
        campuses = {c.name: c for c in s.scalars(select(Campus))}

        def campus_of(name: str) -> Campus:
            if name not in campuses:
                campuses[name] = Campus(name=name)
                s.add(campuses[name])
            return campuses[name]

        def room_of(campus: str, building: str, room: str) -> Room:
            if (campus, building, room) not in rooms:
                if (campus, building) not in buildings:
                    buildings[(campus, building)] = Building(campus=campus_of(campus), name=building)
                    s.add(buildings[(campus, building)])
                rooms[(campus, building, room)] = Room(building=buildings[(campus, building)], name=room)
                s.add(rooms[(campus, building, room)])
            return rooms[(campus, building, room)]

        seen_tag: dict[str, int] = {}
        seen_serial: dict[str, int] = {}
        seen_asset: dict[int, int] = {}
        pending: list[tuple[dict[str, Any], Room | None, Campus | None]] = []
        for row in rows:
            try:
                fields, place = self._validate(row.values)
            except RegisterError as exc:
                report.errors.append(RowError(row.line, str(exc)))
                continue
            if "type" not in row.values and "category" in row.values:
                kind = category_type(row.values["category"])
                if kind is None:
                    report.other_rows.append((row.line, row.values["category"][:40]))
                fields["type"] = kind or "other"
            tag = fields.get("asset_tag")
            serial = fields.get("serial")
            serial_key = serial.lower() if serial and clean(serial) else None
            try:
                asset = self._find(row.values.get("register_id"), tag, serial_key, by_id, by_tag, by_serial)
            except RegisterError as exc:
                report.errors.append(RowError(row.line, str(exc)))
                continue
            if tag and tag in seen_tag:
                report.errors.append(RowError(row.line, f"asset tag {tag!r} already on line {seen_tag[tag]}"))
                continue
            if asset is not None and asset.id in seen_asset:
                report.errors.append(
                    RowError(row.line, f"same asset as line {seen_asset[asset.id]} (#{asset.id})")
                )
                continue
            if asset is None and serial_key and serial_key in seen_serial:
                report.errors.append(
                    RowError(row.line, f"serial {serial!r} already on line {seen_serial[serial_key]}")
                )
                continue
            if asset is not None and tag and asset.asset_tag and asset.asset_tag != tag:
                report.errors.append(
                    RowError(row.line, f"serial {serial!r} belongs to asset {asset.asset_tag!r}, not {tag!r}")
                )
                continue
            room = None
            campus = None
            if place is not None:
                campus_name, building_name, room_name = place
                if room_name:
                    room = room_of(campus_name, building_name, room_name)
                    campus = room.building.campus
                else:
                    campus = campus_of(campus_name)
            if tag:
                seen_tag[tag] = row.line
            if serial_key:
                seen_serial[serial_key] = row.line
            if asset is None:
                report.created += 1
                if write:  # a dry run counts them; they would be rolled back anyway
                    pending.append((fields, room, campus or (room.building.campus if room else None)))
                    if len(pending) >= INSERT_BATCH:
                        s.flush()
                        self._insert(s, pending, now)
                        pending = []
                continue
            seen_asset[asset.id] = row.line
            changed = 0
            for key, value in fields.items():
                changed += self.service.assign(s, asset, key, value, self.actor, now)
            if room is not None:
                changed += self.service.move(s, asset, room, self.actor, now)
            elif campus is not None and asset.campus is not campus:
                old = asset.campus.name if asset.campus else None
                self.service.record(s, asset, "campus", old, campus.name, self.actor, now)
                asset.campus = campus
                if asset.room is not None and asset.room.building.campus is not campus:
                    self.service.move(s, asset, None, self.actor, now)
                changed += 1
            if changed:
                asset.updated_at = now
                asset.search_text = search_text(asset)
                report.updated += 1
            else:
                report.unchanged += 1
        s.flush()
        if pending:
            self._insert(s, pending, now)

    def _insert(
        self, s: Session, pending: list[tuple[dict[str, Any], Room | None, Campus | None]], now: datetime
    ) -> None:
        """New assets as one multi-row INSERT (and their `created` history rows as another)."""
        rows = []
        for fields, room, campus in pending:
            values: dict[str, Any] = {
                "name": "",
                "type": "other",
                "status": "in_use",
                "vendor": "",
                "model": "",
                "department": "",
                "position": "",
                "notes": "",
                **fields,
            }
            values.update(
                room_id=room.id if room else None,
                campus_id=campus.id if campus else None,
                custom={},
                ip="",
                os_family="",
                hostname="",
                upstream_switch="",
                upstream_port="",
                upstream_source="",
                created_at=now,
                updated_at=now,
                search_text=compose_search_text(
                    [values.get(k) or "" for k in ("asset_tag", "name", "serial", "vendor", "model")]
                    + [values.get(k) or "" for k in ("department", "notes", "position")]
                    + [room.path if room else ""]
                ),
            )
            rows.append(values)
        if s.get_bind().dialect.name == "postgresql":
            # ids from the sequence up front, then a plain executemany: psycopg pipelines it, where a
            # multi-row INSERT … RETURNING of 10,000 rows spends seconds parsing its own SQL text
            ids = list(
                s.scalars(
                    text(
                        "SELECT nextval(pg_get_serial_sequence('reg_assets', 'id')) "
                        "FROM generate_series(1, :n)"
                    ),
                    {"n": len(rows)},
                )
            )
            for asset_id, values in zip(ids, rows, strict=True):
                values["id"] = asset_id
            s.execute(insert(Asset), rows)
        else:
            ids = list(s.scalars(insert(Asset).returning(Asset.id, sort_by_parameter_order=True), rows))
        s.execute(
            insert(AssetHistory),
            [
                {
                    "asset_id": asset_id,
                    "at": now,
                    "actor": self.actor,
                    "field": "created",
                    "old": None,
                    "new": values.get("asset_tag") or values.get("name") or f"#{asset_id}",
                }
                for asset_id, values in zip(ids, rows, strict=True)
            ],
        )

    @staticmethod
    def _find(
        register_id: str | None,
        tag: str | None,
        serial_key: str | None,
        by_id: dict[int, Asset],
        by_tag: dict[str, Asset],
        by_serial: dict[str, list[Asset]],
    ) -> Asset | None:
        if register_id:
            if not register_id.isdigit() or int(register_id) not in by_id:
                raise RegisterError(f"register id {register_id!r} is not an asset of this register")
            return by_id[int(register_id)]
        if tag and tag in by_tag:
            return by_tag[tag]
        if serial_key:
            found = [a for a in by_serial.get(serial_key, []) if not tag or a.asset_tag in (None, tag)]
            if len(found) > 1:
                ids = ", ".join(f"#{a.id}" for a in found)
                raise RegisterError(f"serial {serial_key!r} matches several assets ({ids})")
            if found:
                return found[0]
            others = by_serial.get(serial_key, [])
            if tag and others:
                raise RegisterError(
                    f"serial {serial_key!r} belongs to asset {others[0].asset_tag!r}, not {tag!r}"
                )
        return None

    def _validate(self, values: dict[str, str]) -> tuple[dict[str, Any], tuple[str, str, str] | None]:
        out: dict[str, Any] = {}
        problems: list[str] = []

        def take(key: str, parse: Any) -> None:
            if key in values:
                try:
                    out[key] = parse(values[key])
                except RegisterError as exc:
                    problems.append(f"{key}: {exc}")

        take("asset_tag", parse_tag)
        take("type", parse_type)
        take("status", parse_status)
        take("purchase_date", parse_date)
        take("warranty_end", parse_date)
        take("price", parse_price)
        limits = {
            "name": 200,
            "vendor": 100,
            "model": 100,
            "serial": 100,
            "department": 100,
            "position": 200,
            "notes": 10_000,
        }
        for key, limit in limits.items():
            if key in values:
                if len(values[key]) > limit:
                    problems.append(f"{key}: longer than {limit} characters")
                else:
                    out[key] = values[key]
        if "asset_tag" not in values and "serial" not in values and "register_id" not in values:
            problems.append("neither 资产编号/asset_tag nor 序列号/serial")
        if (
            out.get("purchase_date")
            and out.get("warranty_end")
            and out["warranty_end"] < out["purchase_date"]
        ):
            problems.append("warranty_end: before purchase_date")
        place = None
        campus = values.get("campus") or self.default_campus
        building, room = values.get("building"), values.get("room")
        for key, name in (("campus", campus), ("building", building), ("room", room)):
            if name and (len(name) > 100 or "/" in name):
                problems.append(f"{key}: {name!r} (no '/', at most 100 characters)")
        if room or building:
            if not (room and building):
                problems.append("room and building go together (楼栋 and 房间)")
            elif not campus:
                problems.append("room without campus (校区); give the column or --campus")
            else:
                place = (campus, building, room)
        elif campus:
            place = (campus, "", "")
        if problems:
            raise RegisterError("; ".join(problems))
        return out, place


# -- export ----------------------------------------------------------------------------------------
Lang = Literal["en", "zh"]


def export_headers(lang: Lang) -> list[str]:
    return [zh if lang == "zh" else en for _, zh, en in (*COLUMNS, *EXPORT_ONLY)]


def export_records(service: RegisterService, flt: AssetFilter) -> list[dict[str, Any]]:
    return service.records(flt)


def export_row(r: Mapping[str, Any], lang: Lang) -> list[Any]:
    """One asset as typed values (dates, Decimal prices), in the order of export_headers."""
    values: dict[str, Any] = {
        "asset_tag": r["asset_tag"] or "",
        "name": r["name"],
        "type": TYPE_ZH.get(r["type"], r["type"]) if lang == "zh" else r["type"],
        "campus": r["campus"] or "",
        "building": r["building"] or "",
        "room": r["room"] or "",
        "position": r["position"],
        "serial": r["serial"] or "",
        "vendor": r["vendor"],
        "model": r["model"],
        "purchase_date": r["purchase_date"],
        "price": r["price"],
        "warranty_end": r["warranty_end"],
        "department": r["department"],
        "status": STATUS_ZH.get(r["status"], r["status"]) if lang == "zh" else r["status"],
        "notes": r["notes"],
        "register_id": r["id"],
        "macs": " ".join(r["macs"]),
        "ip": r["ip"],
        "upstream": f"{r['upstream_switch']}:{r['upstream_port']}" if r["upstream_switch"] else "",
        "device": f"{r['link_campus']}/{r['link_device']}" if r["link_device"] else "",
    }
    return [values[key] for key, _, _ in (*COLUMNS, *EXPORT_ONLY)]


def export_csv(assets: Iterable[Mapping[str, Any]], out: Path | BinaryIO, lang: Lang = "en") -> int:
    """UTF-8 with BOM, so Excel on Windows opens Chinese text correctly; no cell can run as a formula."""
    if isinstance(out, Path):
        with out.open("wb") as raw:
            return export_csv(assets, raw, lang)
    n = 0
    fh = io.TextIOWrapper(out, encoding="utf-8-sig", newline="")
    try:
        writer = csv.writer(fh)
        writer.writerow(export_headers(lang))
        for a in assets:
            writer.writerow(["" if v is None else neutralise(show(v) or "") for v in export_row(a, lang)])
            n += 1
    finally:
        fh.detach()  # flushed; the caller's file stays open
    return n


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def export_xlsx(assets: Iterable[Mapping[str, Any]], out: Path | BinaryIO, lang: Lang = "en") -> int:
    """Dates as dates, prices as numbers, header frozen with a filter, columns as wide as their text."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    headers = export_headers(lang)
    rows = [export_row(a, lang) for a in assets]
    keys = [key for key, _, _ in (*COLUMNS, *EXPORT_ONLY)]
    widths = [_width(h) for h in headers]
    for row in rows[:2000]:  # a sample is enough to size the columns
        for i, v in enumerate(row):
            if isinstance(v, str) and v:
                widths[i] = max(widths[i], _width(v))
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("资产" if lang == "zh" else "assets")
    for i, key in enumerate(keys):
        if key in ("purchase_date", "warranty_end"):
            widths[i] = max(widths[i], 10)
        elif key == "price":
            widths[i] = max(widths[i], 12)
        ws.column_dimensions[get_column_letter(i + 1)].width = min(max(widths[i], 6), 50) + 2
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for h in headers:
        c = WriteOnlyCell(ws, value=h)
        c.font = bold
        head.append(c)
    ws.append(head)
    date_cols = {keys.index("purchase_date"), keys.index("warranty_end")}
    price_col = keys.index("price")
    for row in rows:
        cells: list[Any] = []
        for i, v in enumerate(row):
            if v is None or v == "":
                cells.append(None)
            elif i in date_cols:
                c = WriteOnlyCell(ws, value=v)
                c.number_format = "yyyy-mm-dd"
                cells.append(c)
            elif i == price_col:
                c = WriteOnlyCell(ws, value=float(v))
                c.number_format = "#,##0.00"
                cells.append(c)
            elif isinstance(v, str):
                # openpyxl makes a formula of text starting with "=", which neutralise() never leaves
                cells.append(neutralise(ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)))
            else:
                cells.append(v)
        ws.append(cells)
    ws.auto_filter.ref = f"A1:{get_column_letter(len(headers))}{len(rows) + 1}"
    wb.save(out)
    return len(rows)
