"""`campusmon assets import` of a sheet with a 类别 (category) column instead of 类型, and `assets
labels` of names with an in-cell line break (Alt+Enter in Excel)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from openpyxl import Workbook
from PIL import Image
from typer.testing import CliRunner

from campusmon.cli import app
from campusmon.server.register.fields import category_type


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("CAMPUSMON_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("CAMPUSMON_SERVER_CONFIG", raising=False)
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, ["assets", *args])
        assert result.exit_code == code, (args, result.output, result.exception)
        assert "Traceback" not in result.output
        return result.output

    return run


CATEGORIES = {
    "台式机": "pc",
    "电脑": "pc",
    "台式计算机": "pc",
    "笔记本电脑": "pc",
    "一体机": "panel",
    "交互式一体机": "panel",
    "班班通": "panel",
    "智能交互平板": "panel",
    "交换机": "switch",
    "核心交换机": "switch",
    "无线AP": "ap",
    "打印机": "printer",
    "激光打印机": "printer",
    "投影仪": "projector",
    "展台": "camera",
    "实物展台": "camera",
    "服务器": "server",
    "Desktop PC": "pc",
    "Laptop": "pc",
    "Interactive panel": "panel",
    "Access Point": "ap",
    "Wireless AP": "ap",
    "Printer": "printer",
    "Projector": "projector",
    "Document camera": "camera",
    "Network switch": "switch",
    "Server": "server",
}
UNKNOWN = ["教学设备", "办公家具", "Furniture"]


@pytest.mark.parametrize("word,kind", CATEGORIES.items())
def test_category_words(word: str, kind: str) -> None:
    assert category_type(word) == kind


def test_category_words_do_not_match_inside_english_words() -> None:
    assert category_type("Laptop") == "pc"  # not "ap" inside "laptop"
    assert category_type("snapshot tool") is None


def test_import_with_a_category_column_maps_types_and_names_the_rows_that_fell_back(
    cli, tmp_path: Path
) -> None:
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(["资产编号", "名称", "类别", "校区", "楼栋", "房间"])
    words = [*CATEGORIES, *UNKNOWN]
    for i, word in enumerate(words, 1):
        ws.append([f"ZX-{i:04d}", f"设备{i}", word, "主校区", "教学楼", "302"])
    sheet = tmp_path / "台账.xlsx"
    wb.save(sheet)

    out = json.loads(cli("import", str(sheet), "--json"))
    assert out["created"] == len(words) and out["errors"] == []
    assert not any("类别" in w and "ignored" in w for w in out["warnings"])
    first_unknown = len(CATEGORIES) + 2  # header is line 1
    assert out["other_rows"] == [{"line": first_unknown + i, "category": w} for i, w in enumerate(UNKNOWN)]
    (warning,) = [w for w in out["warnings"] if "fell back to type 'other'" in w]
    assert f"line {first_unknown} '教学设备'" in warning and "3 row(s)" in warning

    rows = {r["asset_tag"]: r["type"] for r in json.loads(cli("list", "--json"))}
    expected = [*CATEGORIES.values(), *["other"] * len(UNKNOWN)]
    assert [rows[f"ZX-{i:04d}"] for i in range(1, len(words) + 1)] == expected


def test_labels_with_a_line_break_in_the_name(cli, tmp_path: Path) -> None:
    sheet = tmp_path / "names.csv"
    sheet.write_text(
        "资产编号,名称,类型,校区,楼栋,房间\n"
        'ZX-0001,"学生机01\n靠窗第一排",台式机,主校区,实验楼,301\n'
        'ZX-0002,"一体机\r\n讲台左侧\n（2023年捐赠）",一体机,主校区,实验楼,301\n',
        encoding="utf-8",
    )
    cli("import", str(sheet))
    names = sorted(r["name"] for r in json.loads(cli("list", "--json")))
    assert names[0].count("\n") >= 1  # kept as typed

    out = cli("labels", "--out", str(tmp_path / "l.png"))
    assert "2 labels on 1 page(s)" in out
    img = Image.open(tmp_path / "l.png")
    assert sum(img.convert("L").histogram()[:128]) > 50_000  # QR codes and text are drawn
    cli("labels", "--out", str(tmp_path / "l.pdf"))
    assert (tmp_path / "l.pdf").read_bytes().startswith(b"%PDF")
