"""The monthly report as a PDF (A4, matplotlib): summary, charts, then every table, paginated.

Chinese text needs a CJK font: WenQuanYi Micro Hei (Debian fonts-wqy-microhei) by default. Without it
the report is still written, with a visible line on its first page saying which font is missing.
"""

from __future__ import annotations

import logging
import unicodedata
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .figures import MonthlyFigures
from .labels import Lang, problem, t
from .tables import Cell, Table, minutes, overall, percent

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.backends.backend_pdf import PdfPages
    from matplotlib.figure import Figure

_log = logging.getLogger(__name__)
CJK_FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
A4 = (8.27, 11.69)
MARGIN = 0.06
ROW_H = 0.021
COLORS = ("#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#e53e3e", "#718096")


def font_family(path: Path = CJK_FONT) -> str | None:
    """Register the CJK font with matplotlib; its family name, or None when the file is missing."""
    from matplotlib import font_manager

    if not path.is_file():
        return None
    font_manager.fontManager.addfont(str(path))
    return str(font_manager.FontProperties(fname=str(path)).get_name())


def _short(v: Cell, limit: int = 38) -> str:
    """The cell as text, cut to `limit` columns (a CJK character takes two)."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.1f}"
    text = str(v)
    used, out = 0, list[str]()
    for ch in text:
        w = 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1
        if used + w > limit:
            return "".join(out[:-1]) + "…"
        used += w
        out.append(ch)
    return text


@dataclass
class _Pages:
    pdf: PdfPages
    footer: str
    fig: Figure | None = None
    y: float = 0.0
    n: int = 0
    figures: list[Figure] = field(default_factory=list)

    def new(self) -> Figure:
        from matplotlib.figure import Figure

        self.close()
        self.fig = Figure(figsize=A4)
        self.n += 1
        self.fig.text(0.5, 0.02, f"{self.footer} · {self.n}", ha="center", fontsize=7, color="#666")
        self.y = 1 - MARGIN
        return self.fig

    def close(self) -> None:
        if self.fig is not None:
            self.pdf.savefig(self.fig)  # type: ignore[no-untyped-call]
            self.fig = None

    def room(self, height: float) -> Figure:
        if self.fig is None or self.y - height < MARGIN:
            return self.new()
        return self.fig

    def heading(self, text: str, size: float = 13) -> None:
        fig = self.room(0.06)
        fig.text(MARGIN, self.y - 0.02, text, fontsize=size, va="top")
        self.y -= 0.045

    def table(self, table: Table, empty: str, widths: list[float] | None = None) -> None:
        rows: list[list[Cell]] = table.rows or [[empty, *([""] * (len(table.headers) - 1))]]
        start = 0
        first = True
        while start < len(rows):
            fig = self.room(ROW_H * 4 + 0.05)
            if first:
                self.heading(table.title, 11)
                fig = self.fig or fig
                first = False
            fit = max(1, int((self.y - MARGIN) / ROW_H) - 1)
            chunk = rows[start : start + fit]
            height = ROW_H * (len(chunk) + 1)
            from matplotlib.transforms import Bbox

            ax = fig.add_axes((MARGIN, self.y - height, 1 - 2 * MARGIN, height))
            ax.axis("off")
            cols = widths or [1 / len(table.headers)] * len(table.headers)
            tab = ax.table(
                cellText=[
                    [_short(v, max(4, int(w * 100))) for v, w in zip(r, cols, strict=False)] for r in chunk
                ],
                colLabels=table.headers,
                loc="upper left",
                cellLoc="left",
                colLoc="left",
                bbox=Bbox.from_bounds(0, 0, 1, 1),
                colWidths=widths,
            )
            tab.auto_set_font_size(False)
            tab.set_fontsize(7.5)
            for (r, _c), cell in tab.get_celld().items():
                cell.set_edgecolor("#cbd5e0")
                if r == 0:
                    cell.set_facecolor("#edf2f7")
            self.y -= height + 0.02
            start += len(chunk)
            if start < len(rows):
                self.new()

    def chart(self, height: float, draw: Callable[[Axes], None]) -> None:
        fig = self.room(height + 0.02)
        ax = fig.add_axes((MARGIN + 0.07, self.y - height + 0.03, 1 - 2 * MARGIN - 0.09, height - 0.05))
        draw(ax)
        self.y -= height + 0.02


def _bars(ax: Axes, labels: list[str], series: list[tuple[str, list[float]]], ylabel: str) -> None:
    from matplotlib.ticker import MaxNLocator

    n = max(1, len(series))
    width = 0.8 / n
    xs = list(range(len(labels)))
    for i, (name, values) in enumerate(series):
        ax.bar([x + (i - (n - 1) / 2) * width for x in xs], values, width, label=name, color=COLORS[i % 6])
    ax.set_xticks(xs)
    ax.set_xticklabels([_short(label, 14) for label in labels], rotation=30, ha="right", fontsize=7.5)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(axis="y", labelsize=7.5)
    ax.spines[["top", "right"]].set_visible(False)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if len(series) > 1:
        ax.legend(fontsize=7.5, frameon=False)


def write_pdf(
    f: MonthlyFigures,
    tables: list[Table],
    lang: Lang,
    out: Path,
    *,
    generated: datetime,
    font: Path = CJK_FONT,
) -> bool:
    """Write the PDF; False when the CJK font was missing (the report says so on its first page)."""
    import matplotlib
    from matplotlib.backends.backend_pdf import PdfPages

    family = font_family(font)
    if family is None:
        _log.warning("Chinese font %s not found: Chinese text in the report may not render", font)
    rc: dict[Any, Any] = {
        "font.family": [family, "DejaVu Sans"] if family else ["DejaVu Sans"],
        "axes.unicode_minus": False,
        "pdf.fonttype": 42,
    }
    by_key = {tb.key: tb for tb in tables}
    with matplotlib.rc_context(rc), PdfPages(out) as pdf, warnings.catch_warnings():
        if family is None:  # said once above, not once per missing glyph
            warnings.filterwarnings("ignore", message="Glyph .* missing from font", category=UserWarning)
        meta = pdf.infodict()
        meta["Title"] = f"{t(lang, 'title')} {f.month}"
        meta["Creator"] = "campusmon"
        pages = _Pages(pdf, f"campusmon · {t(lang, 'title')} · {f.month}")
        fig = pages.new()
        fig.text(MARGIN, pages.y - 0.01, t(lang, "title"), fontsize=20, va="top")
        fig.text(
            MARGIN,
            pages.y - 0.055,
            f"{t(lang, 'month')}: {f.month}    {t(lang, 'generated')}: {generated:%Y-%m-%d %H:%M}",
            fontsize=9,
            color="#4a5568",
            va="top",
        )
        pages.y -= 0.08
        if family is None:
            fig.text(
                MARGIN, pages.y, t("en", "font_missing", path=font), fontsize=9, color="#c53030", va="top"
            )
            pages.y -= 0.03
        pages.table(by_key["summary"], t(lang, "none"), widths=[0.6, 0.4])

        def availability(ax: Axes) -> None:
            data = sorted(f.by_building.items(), key=lambda kv: (kv[0].campus, kv[0].building))
            labels = [
                f"{p.campus}/{p.building}" if p.building else f"{p.campus}/{t(lang, 'unplaced')}"
                for p, _ in data
            ]
            _bars(ax, labels, [(t(lang, "percent"), [percent(a) or 0.0 for _, a in data])], "%")
            ax.set_ylim(0, 109)
            for container in ax.containers:
                ax.bar_label(container, fmt="%.1f", fontsize=7.5)  # type: ignore[arg-type]
            total = percent(overall(f))
            if total is not None:
                ax.axhline(total, color="#e53e3e", lw=1, ls="--")
            ax.set_title(f"{t(lang, 'availability')} · {t(lang, 'by_building')}", fontsize=10)

        pages.chart(0.3, availability)
        pages.table(by_key["by_campus"], t(lang, "none"))

        pages.new()
        pages.heading(t(lang, "tickets"))
        problems = sorted(
            set(f.opened_by_problem) | set(f.resolved_by_problem),
            key=lambda p: -f.opened_by_problem.get(p, 0),
        )

        def tickets(ax: Axes) -> None:
            _bars(
                ax,
                [problem(lang, p) for p in problems],
                [
                    (t(lang, "opened"), [float(f.opened_by_problem.get(p, 0)) for p in problems]),
                    (t(lang, "resolved"), [float(f.resolved_by_problem.get(p, 0)) for p in problems]),
                ],
                t(lang, "count"),
            )
            ax.set_title(f"{t(lang, 'tickets')} · {t(lang, 'by_problem')}", fontsize=10)

        pages.chart(0.28, tickets)
        srcs = [r[0] for r in by_key["by_source"].rows]

        def sources(ax: Axes) -> None:
            rows = by_key["by_source"].rows
            _bars(
                ax,
                [str(s) for s in srcs],
                [
                    (t(lang, "opened"), [float(r[1] or 0) for r in rows]),
                    (t(lang, "resolved"), [float(r[2] or 0) for r in rows]),
                ],
                t(lang, "count"),
            )
            ax.set_title(f"{t(lang, 'tickets')} · {t(lang, 'by_source')}", fontsize=10)

        pages.chart(0.24, sources)
        pages.table(by_key["by_problem"], t(lang, "none"))
        pages.table(by_key["by_source"], t(lang, "none"))
        pages.table(by_key["response"], t(lang, "none"))

        def response(ax: Axes) -> None:
            names = [t(lang, "to_ack"), t(lang, "to_resolve")]
            med = [minutes(f.to_acknowledge.median_s) or 0.0, minutes(f.to_resolve.median_s) or 0.0]
            p90 = [minutes(f.to_acknowledge.p90_s) or 0.0, minutes(f.to_resolve.p90_s) or 0.0]
            _bars(ax, names, [(t(lang, "median"), med), (t(lang, "p90"), p90)], "min")
            ax.set_title(t(lang, "response"), fontsize=10)

        pages.chart(0.22, response)
        pages.new()
        pages.table(by_key["top"], t(lang, "none"), widths=[0.05, 0.3, 0.2, 0.35, 0.1])
        insp = by_key["inspections"]
        if insp.rows:

            def inspections(ax: Axes) -> None:
                rows = insp.rows[:30]
                _bars(
                    ax,
                    [f"{r[0]}" for r in rows],
                    [
                        (t(lang, "due"), [float(r[2] or 0) for r in rows]),
                        (t(lang, "done"), [float(r[3] or 0) for r in rows]),
                    ],
                    t(lang, "count"),
                )
                ax.set_title(t(lang, "inspections"), fontsize=10)

            pages.chart(0.28, inspections)
        pages.table(insp, t(lang, "none"), widths=[0.36, 0.24, 0.1, 0.1, 0.1, 0.1])
        pages.table(by_key["by_building"], t(lang, "none"))
        pages.table(by_key["by_room"], t(lang, "none"))
        pages.table(by_key["warranty_expired"], t(lang, "none"))
        pages.table(by_key["warranty_near"], t(lang, "none"))
        pages.table(
            by_key["hardware"], t(lang, "none"), widths=[0.14, 0.1, 0.14, 0.08, 0.06, 0.2, 0.14, 0.14]
        )
        pages.close()
    return family is not None
