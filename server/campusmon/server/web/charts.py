"""Server-rendered SVG line charts: no JavaScript, no chart library, readable on a phone."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from markupsafe import Markup

from ..services.series import SeriesPoint

W, H = 600, 180
PAD_L, PAD_R, PAD_T, PAD_B = 44, 10, 12, 24


def _fmt(v: float, unit: str) -> str:
    if unit == "bytes/s":
        for div, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
            if abs(v) >= div:
                return f"{v / div:.1f}{suffix}"
        return f"{v:.0f}"
    return f"{v:.0f}"


def line_chart(
    points: Sequence[SeriesPoint],
    *,
    title: str,
    unit: str,
    since: float,
    until: float,
    tz: ZoneInfo,
    fixed_max: float | None = None,
    empty_text: str = "no data",
) -> Markup:
    """A line with its min–max band, a y axis with three ticks, and time ticks."""
    head = (
        f'<svg class="chart" viewBox="0 0 {W} {H}" role="img" aria-label="{escape(title)}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    )
    frame = (
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{W - PAD_L - PAD_R}" height="{H - PAD_T - PAD_B}" '
        'class="frame"/>'
    )
    if not points:
        return Markup(
            head + frame + f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" class="empty">'
            f"{escape(empty_text)}</text></svg>"
        )
    highs = [p.value if p.max is None else p.max for p in points]
    lows = [p.value if p.min is None else p.min for p in points]
    top = fixed_max if fixed_max is not None else max(highs) * 1.1 or 1.0
    span = max(until - since, 1.0)

    def x(ts: float) -> float:
        return PAD_L + (ts - since) / span * (W - PAD_L - PAD_R)

    def y(v: float) -> float:
        return H - PAD_B - min(max(v, 0.0), top) / top * (H - PAD_T - PAD_B)

    line = " ".join(f"{x(p.ts):.1f},{y(p.value):.1f}" for p in points)
    band = (
        " ".join(f"{x(p.ts):.1f},{y(h):.1f}" for p, h in zip(points, highs, strict=True))
        + " "
        + " ".join(
            f"{x(p.ts):.1f},{y(lo):.1f}" for p, lo in zip(reversed(points), reversed(lows), strict=True)
        )
    )
    parts = [head, frame]
    for frac in (0.0, 0.5, 1.0):
        v = top * frac
        parts.append(
            f'<line x1="{PAD_L}" x2="{W - PAD_R}" y1="{y(v):.1f}" y2="{y(v):.1f}" class="grid"/>'
            f'<text x="{PAD_L - 4}" y="{y(v) + 4:.1f}" text-anchor="end" class="tick">{_fmt(v, unit)}</text>'
        )
    fmt = "%H:%M" if span <= 2 * 86400 else "%m-%d"
    for i in range(5):
        ts = since + span * i / 4
        label = datetime.fromtimestamp(ts, tz).strftime(fmt)
        anchor = "start" if i == 0 else "end" if i == 4 else "middle"
        parts.append(f'<text x="{x(ts):.1f}" y="{H - 6}" text-anchor="{anchor}" class="tick">{label}</text>')
    parts.append(f'<polygon points="{band}" class="band"/>')
    parts.append(f'<polyline points="{line}" class="line"/>')
    parts.append("</svg>")
    return Markup("".join(parts))
