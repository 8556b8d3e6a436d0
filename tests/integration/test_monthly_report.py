"""The monthly report of a simulated month: every figure checked against figures this test computes
on its own from the month's script (minute by minute for availability), and the XLSX and PDF read back."""

from __future__ import annotations

import math
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from campusmon.server.models import Ticket
from campusmon.server.reports.figures import MonthlyFigures, Place
from campusmon.server.reports.monthly import monthly_figures, write_monthly
from campusmon.server.reports.render_pdf import write_pdf
from campusmon.server.reports.tables import build_tables
from tests.support import school_month as sm
from tests.support.pdf_pages import pdf_pages


@pytest.fixture(scope="module")
def month(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sm.SchoolMonth]:
    m = sm.build(tmp_path_factory.mktemp("month"))
    yield m
    m.close()


@pytest.fixture(scope="module")
def figures(month: sm.SchoolMonth) -> MonthlyFigures:
    return monthly_figures(month.cfg, month.db, "2026-11")


# -- independent expectations -----------------------------------------------------------------------
def _expected_minute(local: datetime) -> bool:
    if local.weekday() >= 5 or local.date() == sm.HOLIDAY:
        return False
    t = local.time()
    return time(7, 30) <= t < time(12, 0) or time(13, 30) <= t < time(17, 30)


def _minutes_by_device() -> dict[str, tuple[int, int]]:
    """(online minutes, expected minutes) per device, sampling every minute of November."""
    out = {}
    for device in (*sm.DEVICES, sm.UNPLACED):
        changes = sorted((when, state) for when, d, state in sm.STATUSES if d == device)
        online = expected = 0
        t = sm.at(1, 0)
        i, state = 0, "unknown"
        while t < sm.at(1, 0, month=12):
            while i < len(changes) and changes[i][0] <= t:
                state = changes[i][1]
                i += 1
            if _expected_minute(t):
                expected += 1
                online += state == "online"
            t += timedelta(minutes=1)
        out[device] = (online, expected)
    return out


def _place(device: str) -> Place:
    if device == sm.UNPLACED:
        return Place(sm.CAMPUS)
    building, room, *_ = sm.DEVICES[device]
    return Place(sm.CAMPUS, building, room)


def _in_nov(when: datetime | None) -> bool:
    return when is not None and when.year == 2026 and when.month == 11


def _median(values: list[float]) -> float | None:
    v = sorted(values)
    if not v:
        return None
    mid = len(v) // 2
    return v[mid] if len(v) % 2 else (v[mid - 1] + v[mid]) / 2


def _p90(values: list[float]) -> float | None:
    v = sorted(values)
    return v[math.ceil(len(v) * 9 / 10) - 1] if v else None


# -- figures ----------------------------------------------------------------------------------------------
def test_availability_counts_only_expected_hours(figures: MonthlyFigures) -> None:
    minutes = _minutes_by_device()
    # sanity of the script itself: 20 school days (21 weekdays less the holiday) of 8.5 hours
    assert {e for _, e in minutes.values()} == {20 * 510}
    for device, (online, expected) in minutes.items():
        got = figures.by_device[("main", device)]
        assert (got.online_s, got.expected_s) == (online * 60, expected * 60), device
    rooms: dict[Place, list[int]] = {}
    buildings: dict[Place, list[int]] = {}
    for device, (online, expected) in minutes.items():
        p = _place(device)
        for key, into in ((p, rooms), (Place(p.campus, p.building), buildings)):
            into.setdefault(key, [0, 0])
            into[key][0] += online
            into[key][1] += expected
    assert {k: (a.online_s / 60, a.expected_s / 60) for k, a in figures.by_room.items()} == {
        k: tuple(v) for k, v in rooms.items()
    }
    assert {k: (a.online_s / 60, a.expected_s / 60) for k, a in figures.by_building.items()} == {
        k: tuple(v) for k, v in buildings.items()
    }
    total_online = sum(o for o, _ in minutes.values())
    total_expected = sum(e for _, e in minutes.values())
    (campus,) = figures.by_campus.values()
    assert campus.percent == pytest.approx(100 * total_online / total_expected)
    # the weekend, the holiday and the lunch-break shutdown cost nothing; in-hours outages do
    assert figures.by_room[Place(sm.CAMPUS, "A楼", "302")].percent == 100.0
    assert minutes["b101-pc"][0] == 20 * 510 - 60  # 13:30-14:30 on the 10th only


def test_ticket_counts_by_problem_and_source(month: sm.SchoolMonth, figures: MonthlyFigures) -> None:
    opened = [t for t in sm.TICKETS if _in_nov(t.opened)]
    resolved = [t for t in sm.TICKETS if _in_nov(t.resolved)]
    assert figures.opened == len(opened) == 9
    assert figures.resolved == len(resolved)
    assert figures.opened_by_problem == dict(Counter(t.problem for t in opened))
    assert figures.resolved_by_problem == dict(Counter(t.problem for t in resolved))
    assert figures.opened_by_source == dict(Counter(t.source for t in opened))
    assert figures.resolved_by_source == dict(Counter(t.source for t in resolved))
    # the reminders of overdue inspections are tickets too, but not faults
    with month.db.session() as s:
        reminders = s.scalars(select(Ticket).where(Ticket.problem == "inspection_overdue")).all()
        assert reminders and all(r.source == "inspection" for r in reminders)
        assert s.scalars(select(Ticket.id)).all().__len__() == len(sm.TICKETS) + len(reminders)


def test_time_to_acknowledge_and_resolve(figures: MonthlyFigures) -> None:
    opened = [t for t in sm.TICKETS if _in_nov(t.opened)]
    ack = [(t.acked - t.opened).total_seconds() for t in opened if t.acked is not None]
    fix = [(t.resolved - t.opened).total_seconds() for t in opened if t.resolved is not None]
    assert figures.to_acknowledge.count == len(ack) == 4
    assert figures.to_acknowledge.median_s == _median(ack)
    assert figures.to_acknowledge.p90_s == _p90(ack)
    assert figures.to_resolve.count == len(fix)
    assert figures.to_resolve.median_s == _median(fix)
    assert figures.to_resolve.p90_s == _p90(fix)


def test_top_devices(figures: MonthlyFigures) -> None:
    counts = Counter(t.device for t in sm.TICKETS if _in_nov(t.opened) and t.device)
    expected = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:10]
    assert [(d, n) for _, d, _, _, n in figures.top_devices] == expected
    assert [label for _, _, label, _, _ in figures.top_devices][:2] == ["A301-PANEL", "A301-PC"]


def test_inspections_done_vs_due(figures: MonthlyFigures) -> None:
    # never inspected before: due since the assets were registered (Oct 1), so due on Nov 1.
    # 301 and 302 are done once each (30-day plan); 101 is skipped; the switch (7-day plan) is
    # done on the 2nd and 9th, then falls due on the 16th, 23rd and 30th without being done
    got = {(f.plan, f.place): (f.due, f.done, f.met, f.missed) for f in figures.inspections}
    assert got == {
        ("classroom_multimedia", "主校区/A楼/301"): (1, 1, 1, 0),
        ("classroom_multimedia", "主校区/A楼/302"): (1, 1, 1, 0),
        ("classroom_multimedia", "主校区/B楼/101"): (1, 0, 0, 1),
        ("network_cabinet", "主校区/A楼/机房 SW-A"): (5, 2, 2, 3),
    }
    done = Counter(target for when, target, _ in sm.INSPECTIONS if _in_nov(when))
    assert sum(f.done for f in figures.inspections) == sum(done.values())


def test_warranty_and_hardware_changes(figures: MonthlyFigures) -> None:
    last = date(2026, 11, 30)
    ends = {tag: w for _, _, _, tag, w in sm.DEVICES.values() if w is not None} | {
        "PROJ-SPARE": date(2026, 12, 31)
    }
    assert [w.asset for w in figures.warranty_expired] == sorted(
        (t for t, w in ends.items() if w <= last), key=lambda t: (ends[t], t)
    )
    assert [w.asset for w in figures.warranty_near] == sorted(
        (t for t, w in ends.items() if last < w <= last + timedelta(days=90)), key=lambda t: (ends[t], t)
    )
    changes = [(c.asset, c.field, c.old is not None, c.new is not None) for c in figures.hardware_changes]
    assert changes == [
        ("A301-PC", "inventory.memory_module", True, False),
        ("PROJ-SPARE", "room", True, True),
    ]
    assert figures.changes_by_kind == {"removed": 1, "moved": 1}
    assert [c.at for c in figures.hardware_changes] == [sm.RAM_REMOVED.timestamp(), sm.MOVED.timestamp()]


# -- the files ------------------------------------------------------------------------------------------
def test_xlsx_holds_the_same_figures(month: sm.SchoolMonth, figures: MonthlyFigures, tmp_path: Path) -> None:
    from openpyxl import load_workbook

    out = tmp_path / "november.xlsx"
    write_monthly(month.cfg, month.db, "2026-11", "xlsx", "en", out, clock=month.clock)
    wb = load_workbook(out, read_only=True)
    sheets = {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
    summary = {r[0]: r[1] for r in sheets["Summary"][2:]}
    assert summary["Tickets: Opened"] == figures.opened
    assert summary["Tickets: Resolved"] == figures.resolved
    assert summary["Inspections done / due"] == "4 / 8"
    rooms = {tuple(r[:3]): r[5] for r in sheets["Availability room"][2:]}
    assert rooms[(sm.CAMPUS, "A楼", "302")] == 100.0
    minutes = _minutes_by_device()
    a301 = [minutes["a301-panel"], minutes["a301-pc"]]
    assert rooms[(sm.CAMPUS, "A楼", "301")] == round(
        100 * sum(o for o, _ in a301) / sum(e for _, e in a301), 1
    )
    plans = {r[0]: r[1:] for r in sheets["Inspections"][2:]}
    assert plans["主校区/B楼/101"] == ["Classroom multimedia", 1, 0, 0, 1]
    sources = {r[0]: r[1] for r in sheets["Tickets by source"][2:]}
    assert sources == {"automatic": 6, "manual": 1, "teacher": 1, "inspection": 1}


pdftoppm = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils not installed")


@pdftoppm
def test_pdf_in_chinese_embeds_the_cjk_font_and_turns_into_pages(
    month: sm.SchoolMonth, tmp_path: Path
) -> None:
    out = tmp_path / "report.pdf"
    written = write_monthly(month.cfg, month.db, "2026-11", "pdf", "zh", out, clock=month.clock)
    assert written.font_ok
    fonts = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True, check=True).stdout
    assert "WenQuanYi" in fonts
    text = subprocess.run(["pdftotext", str(out), "-"], capture_output=True, text=True, check=True).stdout
    for words in ("校园设备运行月报", "可用率", "巡检完成情况", "故障最多的设备", "主校区/A楼/301", "内存条"):
        assert words in text
    pages = pdf_pages(out, tmp_path / "page", dpi=40)
    assert len(pages) >= 4
    assert all(p.stat().st_size > 5_000 for p in pages)  # drawn pages, not blanks


@pdftoppm
def test_pdf_without_the_font_says_so_on_its_first_page(figures: MonthlyFigures, tmp_path: Path) -> None:
    from zoneinfo import ZoneInfo

    out = tmp_path / "nofont.pdf"
    tables = build_tables(figures, "zh", ZoneInfo("Asia/Shanghai"))
    assert not write_pdf(
        figures, tables, "zh", out, generated=datetime(2026, 12, 1), font=tmp_path / "none.ttc"
    )
    text = subprocess.run(["pdftotext", "-l", "1", str(out), "-"], capture_output=True, text=True, check=True)
    assert "No Chinese font found" in text.stdout
