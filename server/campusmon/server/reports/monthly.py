"""`campusmon report monthly`: collect the month's rows, compute the figures, write XLSX or PDF."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Literal
from zoneinfo import ZoneInfo

from ..config import ServerConfig
from ..db import Database
from ..inspections.plans import load_plans
from ..inspections.service import InspectionService
from ..schedule import compile_schedule
from ..tickets import TicketService
from .collect import collect
from .figures import Month, MonthlyFigures
from .labels import Lang, t
from .render_pdf import CJK_FONT, write_pdf
from .render_xlsx import write_xlsx
from .tables import build_tables

Format = Literal["pdf", "xlsx"]
#: warranty ending within this many days after the month is "near its end"
NEAR_DAYS = 90


@dataclass(frozen=True, slots=True)
class Written:
    path: Path
    figures: MonthlyFigures
    #: False: a PDF written without the CJK font (its first page says so)
    font_ok: bool = True


def monthly_figures(cfg: ServerConfig, db: Database, month: str) -> MonthlyFigures:
    tz = ZoneInfo(cfg.schedule.timezone)
    plans = load_plans(cfg.inspections.plans_file)
    inspections = InspectionService(db, plans, TicketService(db), tz=tz)
    return collect(
        db, Month.parse(month, tz), compile_schedule(cfg.schedule), plans, inspections, near_days=NEAR_DAYS
    )


def write_monthly(
    cfg: ServerConfig,
    db: Database,
    month: str,
    fmt: Format,
    lang: Lang,
    out: Path,
    *,
    clock: Callable[[], float] = time.time,
    font: Path = CJK_FONT,
) -> Written:
    tz = ZoneInfo(cfg.schedule.timezone)
    figures = monthly_figures(cfg, db, month)
    plans = load_plans(cfg.inspections.plans_file)
    labels = {name: spec.label(lang) for name, spec in plans.plans.items()}
    tables = build_tables(figures, lang, tz, NEAR_DAYS, labels)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "xlsx":
        write_xlsx(f"{t(lang, 'title')} {figures.month}", tables, out)
        return Written(out, figures)
    ok = write_pdf(figures, tables, lang, out, generated=datetime.fromtimestamp(clock(), tz), font=font)
    return Written(out, figures, ok)
