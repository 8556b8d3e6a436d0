"""The monthly report as an Excel workbook: one sheet per table, numbers as numbers, no live formulas."""

from __future__ import annotations

import unicodedata
from pathlib import Path
from typing import Any

from .tables import Cell, Table


def _width(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


#: Excel sheet names: at most 31 characters, none of []:*?/\
_BAD = str.maketrans({c: " " for c in "[]:*?/\\"})


def sheet_name(title: str, used: set[str]) -> str:
    base = title.translate(_BAD).strip()[:31] or "sheet"
    name, n = base, 2
    while name in used:
        name, n = f"{base[:26]}-{n}", n + 1
    used.add(name)
    return name


def write_xlsx(title: str, tables: list[Table], out: Path) -> None:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.worksheet import Worksheet

    wb = Workbook(write_only=True)
    used: set[str] = set()
    bold = Font(bold=True)
    big = Font(bold=True, size=14)

    def cell(ws: Worksheet, value: Cell, font: Font | None = None) -> Any:
        c = WriteOnlyCell(ws, value=value)
        if isinstance(value, str) and value.startswith("="):
            c.data_type = "s"  # text that looks like a formula stays text
        if isinstance(value, float):
            c.number_format = "0.0"
        if font is not None:
            c.font = font
        return c

    for table in tables:
        ws = wb.create_sheet(sheet_name(table.sheet or table.title, used))
        widths = [_width(h) for h in table.headers]
        for row in table.rows[:2000]:
            for i, v in enumerate(row):
                widths[i] = max(widths[i], _width(str(v)) if v is not None else 0)
        for i, w in enumerate(widths):
            ws.column_dimensions[get_column_letter(i + 1)].width = min(max(w, 6), 60) + 2
        ws.freeze_panes = "A3"
        ws.append([cell(ws, f"{title} · {table.title}", big)])
        ws.append([cell(ws, h, bold) for h in table.headers])
        for row in table.rows:
            ws.append([cell(ws, v) for v in row])
    wb.save(out)
