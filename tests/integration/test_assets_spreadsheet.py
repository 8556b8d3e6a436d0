"""Spreadsheet import/export against real databases: Chinese headers in UTF-8 and GB18030, bad rows
reported by line with good rows kept, re-import updates, export → import changes nothing."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.cell.cell import Cell
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from campusmon.server.db import Database
from campusmon.server.register.models import Asset, AssetHistory
from campusmon.server.register.service import AssetFilter, RegisterService
from campusmon.server.register.spreadsheet import (
    Importer,
    SpreadsheetError,
    export_csv,
    export_records,
    export_xlsx,
)
from tests.support.databases import fresh_database

FIXTURES = Path(__file__).parent.parent / "fixtures" / "assets"
BAD_LINES = {
    7: "unknown type '打印复印一体'",
    8: "not a date: '2022-13-45'",
    9: "asset tag 'ZX-2021-0002' already on line 3",
    10: "neither 资产编号/asset_tag nor 序列号/serial",
    11: "not a price: '三千元'",
    12: "room and building go together",
    13: "warranty_end: before purchase_date",
}
GOOD_TAGS = [
    "ZX-2021-0001",
    "ZX-2021-0002",
    "ZX-2021-0003",
    "ZX-2022-0101",
    "ZX-2022-0102",
    "ZX-2022-0108",
    "ZX-2022-0109",
]


@pytest.fixture(params=["sqlite", "postgresql"])
def reg(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[RegisterService]:
    url = request.getfixturevalue("postgres") if request.param == "postgresql" else None
    with fresh_database(request.param, tmp_path, url) as database:
        yield RegisterService(database)


def counts(db: Database) -> tuple[int, int]:
    with db.session() as s:
        return (
            s.scalar(select(func.count(Asset.id))) or 0,
            s.scalar(select(func.count(AssetHistory.id))) or 0,
        )


def tags(reg: RegisterService) -> list[str]:
    return sorted(a.asset_tag or "" for a in reg.list_assets())


@pytest.mark.parametrize(
    ("name", "encoding"), [("school_utf8.csv", "utf-8-sig"), ("school_gb18030.csv", "gb18030")]
)
def test_import_keeps_good_rows_and_reports_every_bad_row(
    reg: RegisterService, name: str, encoding: str
) -> None:
    report = Importer(reg, "import:test").run(FIXTURES / name)
    assert report.encoding == encoding
    assert (report.created, report.updated, report.unchanged) == (7, 0, 0)
    assert [e.line for e in report.errors] == sorted(BAD_LINES)
    for e in report.errors:
        assert BAD_LINES[e.line] in e.reason, (e.line, e.reason)
    assert tags(reg) == GOOD_TAGS
    a = reg.get("ZX-2021-0001")
    assert (a.type, a.status, a.vendor, a.department) == ("pc", "in_use", "联想", "信息中心")
    assert a.room is not None and a.room.path == "主校区/实验楼/301"
    assert (a.purchase_date, a.warranty_end, str(a.price)) == (date(2021, 9, 1), date(2024, 8, 31), "4599.00")
    projector = reg.get("ZX-2022-0102")
    assert (projector.type, projector.status, str(projector.price)) == ("projector", "in_repair", "3650.50")
    assert reg.get("ZX-2022-0108").type == "camera" and reg.get("ZX-2022-0108").serial is None
    assert [h.field for h in reg.history("ZX-2021-0001")] == ["created"]
    assert reg.history("ZX-2021-0001")[0].actor == "import:test"


def test_both_encodings_read_the_same(reg: RegisterService, tmp_path: Path) -> None:
    utf8 = Importer(reg, "import:a").run(FIXTURES / "school_utf8.csv")
    again = Importer(reg, "import:b").run(FIXTURES / "school_gb18030.csv")
    assert (again.created, again.updated, again.unchanged) == (0, 0, utf8.created)
    plain = tmp_path / "nobom.csv"
    plain.write_bytes((FIXTURES / "school_utf8.csv").read_bytes().removeprefix(b"\xef\xbb\xbf"))
    assert Importer(reg, "import:c").run(plain).unchanged == utf8.created


def test_dry_run_writes_nothing(reg: RegisterService) -> None:
    before = counts(reg.db)
    report = Importer(reg, "import:dry").run(FIXTURES / "school_gb18030.csv", dry_run=True)
    assert report.created == 7 and len(report.errors) == 7
    assert counts(reg.db) == before == (0, 0)


def test_reimport_updates_by_tag_then_serial(reg: RegisterService, tmp_path: Path) -> None:
    Importer(reg, "import:first").run(FIXTURES / "school_utf8.csv")
    assets_before, _ = counts(reg.db)
    f = tmp_path / "update.csv"
    f.write_text(
        "asset_tag,serial,status,room,building,campus,price,notes\n"
        "ZX-2021-0001,,维修中,,,,,\n"  # by tag: status changes, empty cells leave the rest
        ",EPS-77001,在用,203,教学楼A,主校区,3650.50,灯泡已换\n"  # by serial (no tag column value)
        "ZX-2099-0001,NEW-SN-1,,,,,,新购\n",
        encoding="utf-8",
    )
    report = Importer(reg, "import:second").run(f)
    assert (report.created, report.updated, report.unchanged, report.errors) == (1, 2, 0, [])
    assert counts(reg.db)[0] == assets_before + 1
    assert reg.get("ZX-2021-0001").status == "in_repair"
    assert reg.get("ZX-2021-0001").room is not None
    projector = reg.get("ZX-2022-0102")
    assert (projector.status, projector.notes, projector.room.name if projector.room else "") == (
        "in_use",
        "灯泡已换",
        "203",
    )
    hist = [(h.actor, h.field, h.old, h.new) for h in reg.history("ZX-2022-0102")]
    assert ("import:second", "status", "in_repair", "in_use") in hist
    assert ("import:second", "room", "主校区/教学楼A/204", "主校区/教学楼A/203") in hist
    assert ("import:second", "notes", "灯泡待换", "灯泡已换") in hist


def test_conflicting_rows_are_refused(reg: RegisterService, tmp_path: Path) -> None:
    Importer(reg, "import:first").run(FIXTURES / "school_utf8.csv")
    f = tmp_path / "conflict.csv"
    f.write_text(
        "资产编号,序列号,名称\nZX-NEW-1,PF2ABCD1,冒名\nZX-NEW-2,SN-X,a\nZX-NEW-3,sn-x,b\n,,\nZX-NEW-4,SN-Y,c,extra\n",
        encoding="utf-8",
    )
    report = Importer(reg, "import:x").run(f)
    assert [(e.line, e.reason.split(":")[0]) for e in report.errors] == [
        (2, "serial 'pf2abcd1' belongs to asset 'ZX-2021-0001', not 'ZX-NEW-1'"),
        (4, "serial 'sn-x' already on line 3"),
        (6, "4 cells but 3 columns"),
    ]
    assert report.created == 1


def test_unreadable_files_are_refused_whole(reg: RegisterService, tmp_path: Path) -> None:
    no_key = tmp_path / "nokey.csv"
    no_key.write_text("名称,房间\n电脑,301\n", encoding="utf-8")
    with pytest.raises(SpreadsheetError, match="资产编号/asset_tag"):
        Importer(reg, "import:x").run(no_key)
    binary = tmp_path / "bin.csv"
    binary.write_bytes(b"\x81\x30\xff\xfe\x00\x00" * 10)
    with pytest.raises(SpreadsheetError, match="neither UTF-8 nor GB18030"):
        Importer(reg, "import:x").run(binary)
    empty = tmp_path / "empty.csv"
    empty.write_text("\n\n", encoding="utf-8")
    with pytest.raises(SpreadsheetError, match="empty"):
        Importer(reg, "import:x").run(empty)


def test_a_failure_while_writing_leaves_nothing_half_written(reg: RegisterService) -> None:
    """The database refuses the last good row (a trigger stands in for a full disk): nothing stays."""
    with reg.db.engine.begin() as conn:
        if reg.db.engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON reg_assets WHEN NEW.asset_tag = 'ZX-2022-0109' "
                "BEGIN SELECT RAISE(ABORT, 'disk full'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.asset_tag = 'ZX-2022-0109' THEN RAISE EXCEPTION 'disk full'; END IF; "
                "RETURN NEW; END $$"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON reg_assets FOR EACH ROW EXECUTE FUNCTION refuse()"
            )
    with pytest.raises(DBAPIError, match="disk full"):
        Importer(reg, "import:x").run(FIXTURES / "school_utf8.csv")
    assert counts(reg.db) == (0, 0)
    assert reg.rooms() == []


@pytest.mark.parametrize(("fmt", "lang"), [("csv", "en"), ("csv", "zh"), ("xlsx", "en"), ("xlsx", "zh")])
def test_export_then_import_changes_nothing(
    reg: RegisterService, tmp_path: Path, fmt: str, lang: str
) -> None:
    Importer(reg, "import:first").run(FIXTURES / "school_utf8.csv")
    reg.add_room("东校区/综合楼/101")
    untagged = reg.get("ZX-2022-0108")
    reg.set(untagged.id, actor="user:a", values={"asset_tag": "", "position": "讲台左侧"})
    before = counts(reg.db)
    out = tmp_path / f"export.{fmt}"
    writer = export_xlsx if fmt == "xlsx" else export_csv
    assert writer(export_records(reg, AssetFilter()), out, "zh" if lang == "zh" else "en") == 7
    report = Importer(reg, "import:roundtrip").run(out)
    assert (report.created, report.updated, report.errors) == (0, 0, [])
    assert report.unchanged == 7
    assert counts(reg.db) == before


def test_xlsx_has_typed_columns_and_widths(reg: RegisterService, tmp_path: Path) -> None:
    Importer(reg, "import:first").run(FIXTURES / "school_utf8.csv")
    out = tmp_path / "a.xlsx"
    export_xlsx(export_records(reg, AssetFilter(type="pc")), out, "zh")
    ws = load_workbook(out).active
    assert ws is not None
    header = [c.value for c in ws[1]]
    assert header[:4] == ["资产编号", "名称", "类型", "校区"]
    row = {h: c for h, c in zip(header, ws[2], strict=True) if isinstance(c, Cell)}
    assert row["资产编号"].value == "ZX-2021-0001" and row["类型"].value == "电脑"
    assert row["购置日期"].is_date and row["购置日期"].number_format == "yyyy-mm-dd"
    assert row["价格"].value == 4599.0 and row["价格"].number_format == "#,##0.00"
    assert ws.freeze_panes == "A2" and ws.max_row == 4
    widths = {h: ws.column_dimensions[get_column_letter(i)].width for i, h in enumerate(header, 1)}
    assert widths["名称"] >= 16 + 2  # 8 Chinese characters count double
    assert widths["购置日期"] >= 10 and widths["备注"] >= 6


def test_csv_export_opens_in_excel_and_filters(reg: RegisterService, tmp_path: Path) -> None:
    Importer(reg, "import:first").run(FIXTURES / "school_utf8.csv")
    out = tmp_path / "a.csv"
    export_csv(export_records(reg, AssetFilter(building="教学楼A")), out, "zh")
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(raw.decode("utf-8-sig").splitlines()))
    assert sorted(r["资产编号"] for r in rows) == ["ZX-2022-0101", "ZX-2022-0102", "ZX-2022-0108"]
    assert {r["状态"] for r in rows} == {"在用", "维修中", "备用"}
