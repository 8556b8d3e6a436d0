"""`campusmon report monthly`: the month's availability, tickets, inspections, warranty and changes."""

from __future__ import annotations

from pathlib import Path

import typer

from .server_cmd import ConfigOpt, load_config

app = typer.Typer(help="Reports.", no_args_is_help=True)


@app.command("monthly")
def monthly(
    month: str = typer.Option(..., "--month", help="YYYY-MM, e.g. 2026-11."),
    fmt: str = typer.Option("pdf", "--format", help="pdf or xlsx."),
    lang: str = typer.Option("zh", "--lang", help="zh or en."),
    out: Path | None = typer.Option(
        None, "--out", help="File to write (default: report-YYYY-MM-LANG.FORMAT)."
    ),
    config: Path | None = ConfigOpt,
) -> None:
    """The monthly report: availability in expected hours per campus, building and room; tickets by
    problem and source; time to acknowledge and resolve; top devices; inspections; warranty; changes."""
    from zoneinfo import ZoneInfo

    from campusmon.config import ConfigError
    from campusmon.server.db import Database
    from campusmon.server.reports.figures import Month
    from campusmon.server.reports.monthly import write_monthly

    if fmt not in ("pdf", "xlsx"):
        typer.echo(f"error: --format is pdf or xlsx, not {fmt!r}", err=True)
        raise typer.Exit(2)
    if lang not in ("zh", "en"):
        typer.echo(f"error: --lang is zh or en, not {lang!r}", err=True)
        raise typer.Exit(2)
    cfg = load_config(config)
    try:
        Month.parse(month, ZoneInfo(cfg.schedule.timezone))
    except ValueError as exc:
        typer.echo(f"error: --month: {exc}", err=True)
        raise typer.Exit(2) from None
    target = out or Path(f"report-{month}-{lang}.{fmt}")
    db = Database(cfg.storage.db_url)
    try:
        written = write_monthly(cfg, db, month, fmt, lang, target)  # type: ignore[arg-type]
    except (ConfigError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    if not written.font_ok:
        typer.echo(
            "warning: the Chinese font (fonts-wqy-microhei) is missing; Chinese text may not show in the PDF",
            err=True,
        )
    f = written.figures
    typer.echo(
        f"{target}: {f.month}, {len(f.by_device)} devices, {f.opened} tickets opened, {f.resolved} resolved, "
        f"{sum(i.done for i in f.inspections)}/{sum(i.due for i in f.inspections)} inspections done/due"
    )
