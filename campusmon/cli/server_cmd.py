"""`campusmon server …`, `campusmon devices`, `campusmon tickets …`, `campusmon demo`."""

from __future__ import annotations

import json
import os
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from campusmon.config import ConfigError

if TYPE_CHECKING:
    from campusmon.server.config import ServerConfig
    from campusmon.server.db import Database

app = typer.Typer(help="Run and check the server.", no_args_is_help=True)

ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="Server TOML config (see server/sample-server.toml).",
    envvar="CAMPUSMON_SERVER_CONFIG",
)
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")


def load_config(path: Path | None) -> ServerConfig:
    from campusmon.server.config import load_server_config

    try:
        return load_server_config(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def database(url: str) -> Database:
    """The database, schema brought up to date (waiting while another process does that): a clear
    message instead of a traceback when it cannot be had."""
    from campusmon.server.db import DatabaseInitialising, DatabaseUnavailable, open_database

    try:
        return open_database(url)
    except (DatabaseInitialising, DatabaseUnavailable) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def open_db(path: Path | None) -> Database:
    cfg = load_config(path)
    return database(cfg.storage.db_url)


@app.command("run")
def run(config: Path | None = ConfigOpt) -> None:
    """Run the server (and, by default, its managed Mosquitto) until SIGTERM/SIGINT."""
    from campusmon.cli import setup_logging
    from campusmon.server.broker import BrokerError
    from campusmon.server.db import DatabaseInitialising
    from campusmon.server.service import Server
    from campusmon.server.web.runner import HttpError

    cfg = load_config(config)
    setup_logging(cfg.log_level)
    os.umask(0o077)  # the data dir, databases and broker files are the server's own
    server = Server(cfg)
    stop = threading.Event()

    def handler(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    try:
        server.start()
    # OSError: a data dir that cannot be created or written; HttpError: the console's port is taken
    except (BrokerError, DatabaseInitialising, HttpError, OSError) as exc:
        typer.echo(f"error: {exc}", err=True)
        server.stop()
        raise typer.Exit(1) from None
    try:
        while not stop.wait(1.0):
            if server.fatal.is_set():
                break
    finally:
        server.stop()
    if server.fatal.is_set():
        raise typer.Exit(70)


@app.command("check-config")
def check_config(config: Path | None = ConfigOpt) -> None:
    """Validate the config file (unknown keys, wrong types) and exit."""
    cfg = load_config(config)
    rules = ", ".join(k for k, r in cfg.rules.thresholds.items() if r.enabled)
    builtin = ", ".join(k for k, r in cfg.rules.builtin.items() if r.enabled)
    channels = ", ".join(f"{k} ({c.kind})" for k, c in cfg.notify.channels.items())
    typer.echo(
        f"ok: broker {'managed' if cfg.broker.managed else 'external'} {cfg.broker.host}:"
        f"{cfg.broker.port}, data in {cfg.storage.data_dir}, threshold rules: {rules or 'none'}"
    )
    typer.echo(f"built-in rules: {builtin or 'none'}")
    typer.echo(f"effective threshold rules ({len(cfg.rules.thresholds)}):")
    width = max((len(k) for k in cfg.rules.thresholds), default=0)
    for name, rule in cfg.rules.thresholds.items():
        origin = cfg.rules.origins.get(name, "shipped")
        typer.echo(f"  {name:<{width}}  {describe_rule(rule)}  [{origin}]")
    typer.echo(
        f"schedule: {cfg.schedule.timezone}, default profile {cfg.schedule.default!r}, "
        f"grace {cfg.schedule.grace_minutes:g} min, profiles: {', '.join(cfg.schedule.profiles)}"
    )
    typer.echo(f"notification channels: {channels or 'none'}; routes: {len(cfg.notify.routes)}")


def describe_rule(rule: Any) -> str:
    """One threshold rule in a line: condition, duration, recovery, subject, severity, scope."""
    if not rule.enabled:
        return f"off ({rule.metric})"
    if rule.above is not None:
        cond, recover = f"{rule.metric} > {rule.above:g}", f"recovers below {rule.recover_below:g}"
    else:
        cond, recover = f"{rule.metric} < {rule.below:g}", f"recovers above {rule.recover_above:g}"
    parts = [f"{cond} for {rule.for_seconds:g} s ({recover})"]
    if rule.subject_label:
        parts.append(f"per {rule.subject_label}")
    parts.append(rule.severity if rule.ticket else f"{rule.severity}, history only (no ticket)")
    scope = {k: v for k, v in vars(rule.scope).items() if v}
    if scope:
        parts.append("only " + "; ".join(f"{k} {', '.join(v)}" for k, v in scope.items()))
    return ", ".join(parts)


@app.command("dead-letters")
def dead_letters(
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
    limit: int = typer.Option(100, "--limit", "-n", min=1, max=100_000, help="Newest first, at most N."),
) -> None:
    """Messages that were valid but could not be stored: parked, acknowledged, kept for a look."""
    from rich.console import Console
    from rich.table import Table

    from campusmon.server.services.dead_letters import DeadLetterService

    db = open_db(config)
    letters = DeadLetterService(db).newest(limit)
    db.dispose()
    rows, total = letters.newest, letters.total
    if as_json:
        typer.echo(json.dumps([d.as_json() for d in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{total} dead letters" + (f" (newest {len(rows)})" if total > len(rows) else ""))
    for col in ("id", "last", "count", "topic", "bytes", "error"):
        table.add_column(col)
    for d in rows:
        table.add_row(
            str(d.id), fmt_time(d.last_at), str(d.count), d.topic, str(d.payload_bytes), d.error[:200]
        )
    Console().print(table)


def _iso(value: Any) -> str | None:
    from campusmon.server.db import as_utc

    return None if value is None else as_utc(value).isoformat()  # type: ignore[union-attr]


def fmt_time(value: Any) -> str:
    """Local time; a stored time the local zone cannot show (9999-12-31 east of UTC) shows in UTC."""
    from campusmon.server.db import as_utc

    value = as_utc(value)
    if value is None:
        return "-"
    try:
        return str(value.astimezone().strftime("%Y-%m-%d %H:%M:%S"))
    except (OverflowError, ValueError):
        return str(value.strftime("%Y-%m-%d %H:%M:%S UTC"))


def devices(config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """Live status of every device, by campus."""
    from rich.console import Console
    from rich.table import Table

    from campusmon.server.services.devices import device_statuses

    db = open_db(config)
    rows = device_statuses(db)
    db.dispose()
    if as_json:
        typer.echo(json.dumps([d.as_json() for d in rows], ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{len(rows)} devices")
    for col in ("campus", "device", "state", "since", "last report", "seq", "agent"):
        table.add_column(col)
    colors = {"online": "green", "shutdown": "dim", "lost": "bold red"}
    for d in rows:
        table.add_row(
            d.campus,
            d.device,
            f"[{colors.get(d.state, 'yellow')}]{d.state}[/]",
            fmt_time(d.state_since),
            fmt_time(d.last_report_ts),
            "-" if d.last_seq is None else str(d.last_seq),
            d.agent or "-",
        )
    Console().print(table)


@app.command("workers")
def workers(config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """District workers: who is alive, which campuses and scheduled jobs each one owns."""
    from rich.console import Console
    from rich.table import Table

    from campusmon.server.district import CAMPUS, overview

    db = open_db(config)
    rows, leases, now = overview(db)
    db.dispose()
    unowned = sorted(
        x.name.removeprefix(CAMPUS)
        for x in leases
        if x.name.startswith(CAMPUS) and not (x.holder and x.expires_at and x.expires_at > now)
    )
    if as_json:
        out = {
            "workers": [
                {
                    "worker": w.worker,
                    "host": w.host,
                    "pid": w.pid,
                    "alive": w.alive,
                    "stopped": w.stopped,
                    "started_at": _iso(w.started_at),
                    "heartbeat_at": _iso(w.heartbeat_at),
                    "campuses": list(w.campuses),
                    "jobs": list(w.jobs),
                }
                for w in rows
            ],
            "unowned_campuses": unowned,
        }
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    table = Table(title=f"{sum(w.alive for w in rows)} live workers, {len(unowned)} campuses unowned")
    for col in ("worker", "host", "pid", "state", "heartbeat", "campuses", "jobs"):
        table.add_column(col)
    for w in rows:
        state = "[green]alive[/]" if w.alive else ("[dim]stopped[/]" if w.stopped else "[bold red]gone[/]")
        table.add_row(
            w.worker,
            w.host,
            str(w.pid),
            state,
            fmt_time(w.heartbeat_at),
            f"{len(w.campuses)}: {', '.join(w.campuses)}" if w.campuses else "-",
            ", ".join(w.jobs) or "-",
        )
    console = Console()
    console.print(table)
    if unowned:
        console.print(f"[bold red]unowned campuses:[/] {', '.join(unowned)}")


def demo(
    devices: int = typer.Option(20, "--devices", "-n", min=4, max=500, help="Simulated devices."),
    duration: float = typer.Option(60.0, "--duration", "-d", min=20, max=3600, help="Seconds to run."),
    data_dir: Path | None = typer.Option(
        None, "--data-dir", help="Keep the demo's data here (default: temp)."
    ),
) -> None:
    """A simulated campus on a managed broker and server, with faults injected and recovered."""
    from campusmon.demo.scenario import run_demo
    from campusmon.server.broker import BrokerError

    try:
        code = run_demo(n_devices=devices, duration=duration, data_dir=data_dir)
    except BrokerError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    raise typer.Exit(code)
