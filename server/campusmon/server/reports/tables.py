"""The monthly report as titled tables, the one layout both the XLSX and the PDF are drawn from."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from zoneinfo import ZoneInfo

from .figures import SOURCES, Availability, Durations, MonthlyFigures, Place, change_kind
from .labels import Lang, field_name, problem, sheet, source, t

Cell = str | int | float | None


@dataclass(frozen=True)
class Table:
    key: str
    title: str
    headers: list[str]
    rows: list[list[Cell]]
    #: the workbook sheet it goes to
    sheet: str = ""


def hours(seconds: float) -> float:
    return round(seconds / 3600.0, 1)


def percent(a: Availability) -> float | None:
    p = a.percent
    return None if p is None else round(p, 1)


def minutes(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / 60.0, 1)


def overall(f: MonthlyFigures) -> Availability:
    online = sum(a.online_s for a in f.by_campus.values())
    expected = sum(a.expected_s for a in f.by_campus.values())
    return Availability(online, expected)


def _availability(lang: Lang, key: str, data: dict[Place, Availability], depth: int) -> Table:
    cols = [t(lang, "campus"), t(lang, "building"), t(lang, "room")][:depth]
    rows: list[list[Cell]] = []
    for p, a in sorted(data.items(), key=lambda kv: (kv[0].campus, kv[0].building, kv[0].room)):
        unplaced = t(lang, "unplaced")
        names: list[Cell] = list([p.campus, p.building or unplaced, p.room or unplaced][:depth])
        rows.append([*names, hours(a.online_s), hours(a.expected_s), percent(a)])
    title = f"{t(lang, 'availability')} · {t(lang, key)}"
    return Table(key, title, [*cols, t(lang, "online_h"), t(lang, "expected_h"), t(lang, "percent")], rows)


def _durations(lang: Lang, key: str, d: Durations) -> list[Cell]:
    return [t(lang, key), d.count, minutes(d.median_s), minutes(d.p90_s)]


def build_tables(
    f: MonthlyFigures,
    lang: Lang,
    tz: ZoneInfo,
    near_days: int = 90,
    plan_labels: dict[str, str] | None = None,
) -> list[Table]:
    """`plan_labels`: how each inspection plan is named in `lang` (default: its key)."""
    names = plan_labels or {}
    total = overall(f)
    due = sum(i.due for i in f.inspections)
    done = sum(i.done for i in f.inspections)
    summary = Table(
        "summary",
        t(lang, "summary"),
        [t(lang, "item"), t(lang, "value")],
        [
            [t(lang, "month"), f.month],
            [t(lang, "devices"), len(f.by_device)],
            [t(lang, "availability_short") + " %", percent(total)],
            [f"{t(lang, 'tickets')}: {t(lang, 'opened')}", f.opened],
            [f"{t(lang, 'tickets')}: {t(lang, 'resolved')}", f.resolved],
            [f"{t(lang, 'to_ack')} {t(lang, 'median')} (min)", minutes(f.to_acknowledge.median_s)],
            [f"{t(lang, 'to_resolve')} {t(lang, 'median')} (min)", minutes(f.to_resolve.median_s)],
            [t(lang, "inspections_done_due"), f"{done} / {due}"],
            [t(lang, "warranty_expired"), len(f.warranty_expired)],
            [t(lang, "warranty_near", days=near_days), len(f.warranty_near)],
            [t(lang, "hardware"), len(f.hardware_changes)],
        ],
    )
    problems = sorted(set(f.opened_by_problem) | set(f.resolved_by_problem))
    by_problem = Table(
        "by_problem",
        f"{t(lang, 'tickets')} · {t(lang, 'by_problem')}",
        [t(lang, "problem"), t(lang, "opened"), t(lang, "resolved")],
        [
            [problem(lang, p), f.opened_by_problem.get(p, 0), f.resolved_by_problem.get(p, 0)]
            for p in sorted(problems, key=lambda p: (-f.opened_by_problem.get(p, 0), p))
        ],
    )
    sources = [*SOURCES, *sorted((set(f.opened_by_source) | set(f.resolved_by_source)) - set(SOURCES))]
    by_source = Table(
        "by_source",
        f"{t(lang, 'tickets')} · {t(lang, 'by_source')}",
        [t(lang, "source"), t(lang, "opened"), t(lang, "resolved")],
        [[source(lang, s), f.opened_by_source.get(s, 0), f.resolved_by_source.get(s, 0)] for s in sources],
    )
    response = Table(
        "response",
        t(lang, "response"),
        ["", t(lang, "count"), f"{t(lang, 'median')} (min)", f"{t(lang, 'p90')} (min)"],
        [_durations(lang, "to_ack", f.to_acknowledge), _durations(lang, "to_resolve", f.to_resolve)],
    )
    top = Table(
        "top",
        t(lang, "top"),
        ["#", t(lang, "device"), t(lang, "asset"), t(lang, "place"), t(lang, "faults")],
        [
            [i + 1, f"{c}/{d}", label, "/".join(x for x in (p.campus, p.building, p.room) if x), n]
            for i, (c, d, label, p, n) in enumerate(f.top_devices)
        ],
    )
    inspections = Table(
        "inspections",
        t(lang, "inspections"),
        [
            t(lang, "place"),
            t(lang, "plan"),
            t(lang, "due"),
            t(lang, "done"),
            t(lang, "met"),
            t(lang, "missed"),
        ],
        [[i.place, names.get(i.plan, i.plan), i.due, i.done, i.met, i.missed] for i in f.inspections],
    )
    wcols = [t(lang, "asset"), t(lang, "name"), t(lang, "type"), t(lang, "place"), t(lang, "warranty_end")]
    expired = Table(
        "warranty_expired",
        t(lang, "warranty_expired"),
        wcols,
        [[w.asset, w.name, w.type, w.place, w.warranty_end.isoformat()] for w in f.warranty_expired],
    )
    near = Table(
        "warranty_near",
        t(lang, "warranty_near", days=near_days),
        wcols,
        [[w.asset, w.name, w.type, w.place, w.warranty_end.isoformat()] for w in f.warranty_near],
    )
    hardware = Table(
        "hardware",
        t(lang, "hardware"),
        [
            t(lang, "at"),
            t(lang, "asset"),
            t(lang, "place"),
            t(lang, "field"),
            t(lang, "kind"),
            t(lang, "old"),
            t(lang, "new"),
            t(lang, "by"),
        ],
        [
            [
                datetime.fromtimestamp(c.at, tz).strftime("%Y-%m-%d %H:%M"),
                c.asset,
                c.place,
                field_name(lang, c.field),
                t(lang, change_kind(c)),
                c.old or "",
                c.new or "",
                c.actor,
            ]
            for c in f.hardware_changes
        ],
    )
    tables = [
        summary,
        _availability(lang, "by_campus", f.by_campus, 1),
        _availability(lang, "by_building", f.by_building, 2),
        _availability(lang, "by_room", f.by_room, 3),
        by_problem,
        by_source,
        response,
        top,
        inspections,
        expired,
        near,
        hardware,
    ]
    return [replace(tb, sheet=sheet(lang, tb.key)) for tb in tables]
