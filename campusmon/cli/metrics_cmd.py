"""`campusmon metrics series|storage`: what the embedded metric store holds, read the way charts read it."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from .server_cmd import ConfigOpt, JsonOpt, load_config

if TYPE_CHECKING:
    from campusmon.server.config import ServerConfig
    from campusmon.server.metrics import SqliteMetricStore

app = typer.Typer(help="Stored metrics: a device's series, storage size and retention.", no_args_is_help=True)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw]?)$")


def parse_duration(text: str, what: str) -> float:
    """`90`, `90s`, `30m`, `24h`, `7d`, `2w` -> seconds."""
    m = _DURATION.match(text.strip().lower())
    if m is None:
        raise typer.BadParameter(f"{text!r} is not a duration like 30m, 24h or 7d", param_hint=what)
    seconds = float(m.group(1)) * _UNITS[m.group(2) or "s"]
    if seconds <= 0:
        raise typer.BadParameter("must be more than 0", param_hint=what)
    return seconds


def parse_when(text: str, now: float, what: str) -> float:
    """A duration ago (`24h`) or a local date/time (`2026-11-20`, `2026-11-20T08:00`)."""
    try:
        return now - parse_duration(text, what)
    except typer.BadParameter:
        pass
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is neither a duration (24h) nor a date (2026-11-20)", param_hint=what
        ) from None
    if when.tzinfo is None:
        when = when.astimezone()  # the machine's local time
    return when.timestamp()


def open_metrics(cfg: ServerConfig) -> SqliteMetricStore:
    from campusmon.server.metrics import SqliteMetricStore, open_store

    path = cfg.storage.metrics_path
    if not path.exists():
        typer.echo(f"error: no metric store at {path} (has the server run with this config?)", err=True)
        raise typer.Exit(1)
    if SqliteMetricStore.old_layout(path):
        typer.echo(f"error: {path} has the old layout; the server moves it aside when it starts", err=True)
        raise typer.Exit(1)
    return open_store(cfg.storage, cfg.metrics)


def find_device(store: SqliteMetricStore, text: str) -> tuple[str, str]:
    known = store.devices()
    if "/" in text:
        campus, device = text.split("/", 1)
        if (campus, device) in known:
            return campus, device
        matches: list[tuple[str, str]] = []
    else:
        matches = [(c, d) for c, d in known if d == text]
        if len(matches) == 1:
            return matches[0]
    if len(matches) > 1:
        names = ", ".join(f"{c}/{d}" for c, d in matches)
        typer.echo(f"error: {text!r} is in several campuses: {names}; write CAMPUS/DEVICE", err=True)
    else:
        from campusmon.config import did_you_mean

        typer.echo(
            f"error: no metrics stored for {text!r}{did_you_mean(text, [d for _, d in known])}", err=True
        )
    raise typer.Exit(1)


def _local(ts: float | None, tz: Any) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).astimezone(tz).strftime("%Y-%m-%d %H:%M:%S")


def _iso(ts: float | None) -> str | None:
    return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()


@app.command("series")
def series(
    device: str = typer.Argument(..., help="DEVICE, or CAMPUS/DEVICE when the id is in several campuses."),
    metric: str = typer.Argument(
        ..., help='Metric name, optionally with labels: cpu_usage_percent, disk_used_percent{mount="C:\\\\"}.'
    ),
    since: str = typer.Option("24h", "--since", help="Start: a duration ago (30m, 24h, 7d) or a date."),
    until: str | None = typer.Option(None, "--until", help="End (default: now): a duration ago or a date."),
    step: str | None = typer.Option(
        None, "--step", help="Bucket width (1m, 5m, 1h); default: about 720 points over the range."
    ),
    agg: str = typer.Option("avg", "--agg", help="avg, min, max, sum or count per bucket."),
    as_json: bool = JsonOpt,
    config: Path | None = ConfigOpt,
) -> None:
    """A device's metric over time, one point per step (from the 5-minute rollups when step >= 5m)."""
    import time
    from zoneinfo import ZoneInfo

    from campusmon.server.metrics import MetricStoreError, parse_series_key

    cfg = load_config(config)
    now = time.time()
    start = parse_when(since, now, "--since")
    end = now if until is None else parse_when(until, now, "--until")
    step_s = None if step is None else parse_duration(step, "--step")
    try:
        name, labels = parse_series_key(metric)
    except MetricStoreError as exc:
        raise typer.BadParameter(str(exc), param_hint="METRIC") from None
    store = open_metrics(cfg)
    try:
        campus, dev = find_device(store, device)
        try:
            points = store.series(
                campus, dev, name, since=start, until=end, step=step_s, labels=labels, agg=agg
            )
        except MetricStoreError as exc:
            typer.echo(f"error: {exc}", err=True)
            raise typer.Exit(2) from None
        known = [] if points else store.series_names(campus, dev)
    finally:
        store.close()
    if as_json:
        doc = {
            "campus": campus,
            "device": dev,
            "metric": name,
            "labels": labels,
            "agg": agg,
            "since": _iso(start),
            "until": _iso(end),
            "points": [{"ts": _iso(p.ts), "value": p.value, "min": p.min, "max": p.max} for p in points],
        }
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    if not points:
        names = sorted({k.split("{", 1)[0] for k in known})
        if name not in names:
            from campusmon.config import did_you_mean

            typer.echo(f"no series {name!r} for {campus}/{dev}{did_you_mean(name, names)}", err=True)
            typer.echo(f"its metrics: {', '.join(names) or 'none'}", err=True)
        else:
            typer.echo(f"no samples of {metric} for {campus}/{dev} in that range", err=True)
        raise typer.Exit(1)
    tz = ZoneInfo(cfg.schedule.timezone)
    typer.echo(f"{campus}/{dev} {metric} ({agg}, {len(points)} points, {cfg.schedule.timezone})")
    typer.echo(f"{'time':19}  {agg:>14}  {'min':>14}  {'max':>14}")
    for p in points:
        typer.echo(f"{_local(p.ts, tz)}  {p.value:14.6g}  {_num(p.min)}  {_num(p.max)}")


def _num(v: float | None) -> str:
    return f"{'-':>14}" if v is None else f"{v:14.6g}"


def _size(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.1f} {unit}" if unit != "B" else f"{int(n)} B"
        n /= 1024
    return f"{n:.1f} GiB"  # pragma: no cover


@app.command("storage")
def storage(as_json: bool = JsonOpt, config: Path | None = ConfigOpt) -> None:
    """Size of the metric store, what it holds, the oldest data and the retention in force."""
    from zoneinfo import ZoneInfo

    cfg = load_config(config)
    store = open_metrics(cfg)
    try:
        info = store.storage_info()
    finally:
        store.close()
    if as_json:
        doc = info.to_dict()
        for key in ("oldest_raw", "newest_raw", "oldest_rollup", "newest_rollup", "spool_oldest"):
            doc[key] = _iso(doc[key])
        typer.echo(json.dumps(doc, ensure_ascii=False, indent=2))
        return
    tz = ZoneInfo(cfg.schedule.timezone)
    per = info.bytes_per_sample
    rows = [
        ("backend", info.backend + (f" -> {info.influx_url}" if info.influx_url else "")),
        ("file", info.path),
        ("size on disk", _size(info.size_bytes) + (f" ({per:.2f} bytes per raw sample)" if per else "")),
        ("devices / series", f"{info.devices:,} / {info.series:,}"),
        ("reports kept", f"{info.reports:,} ({info.head_reports:,} not yet compacted)"),
        ("raw samples", f"{info.raw_samples:,}"),
        ("raw data", f"{_local(info.oldest_raw, tz)} .. {_local(info.newest_raw, tz)}"),
        ("5-minute rollups", f"{_local(info.oldest_rollup, tz)} .. {_local(info.newest_rollup, tz)}"),
        (
            "retention",
            f"raw {info.raw_retention_days} days, {info.rollup_step_seconds // 60}-minute rollups "
            f"{info.rollup_retention_days} days",
        ),
    ]
    if info.spool_reports is not None:
        rows.append(
            (
                "spool (not yet written)",
                f"{info.spool_reports:,} reports, oldest {_local(info.spool_oldest, tz)}",
            )
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        typer.echo(f"{key:<{width}}  {value}")
