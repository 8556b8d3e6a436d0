"""`campusmon agent run|once|identity|inventory`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from campusmon.config import ConfigError

app = typer.Typer(help="Run the agent on a PC or panel.", no_args_is_help=True)

ConfigOpt = typer.Option(
    None,
    "--config",
    "-c",
    help="Agent TOML config (see agent/sample-agent.toml).",
    envvar="CAMPUSMON_AGENT_CONFIG",
)
JsonOpt = typer.Option(False, "--json", help="Machine-readable output.")


def _load(path: Path | None):  # type: ignore[no-untyped-def]
    from campusmon.agent.config import load_agent_config

    try:
        return load_agent_config(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


@app.command()
def run(config: Path | None = ConfigOpt) -> None:
    """Report health every interval until stopped (SIGTERM/SIGINT, logoff, OS shutdown publish `shutdown`)."""
    from campusmon.agent.main import run as run_agent

    raise typer.Exit(run_agent(["--config", str(config)] if config else []))


@app.command()
def once(config: Path | None = ConfigOpt) -> None:
    """Collect one report and print it as JSON (nothing is sent)."""
    from campusmon.agent.runner import once as collect_once

    cfg = _load(config)
    _echo_json(collect_once(cfg))


@app.command()
def identity(config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """Show the device id and the hardware source it came from (and what was ignored, and why)."""
    import psutil

    from campusmon.agent.runner import resolve_identity

    cfg = _load(config)
    ident, _ = resolve_identity(cfg, psutil)
    if as_json:
        _echo_json(ident.as_dict() | {"rejected": ident.rejected})
        return
    typer.echo(f"device id: {ident.device_id}")
    typer.echo(f"source:    {ident.source} ({ident.value})")
    for candidate, why in ident.rejected.items():
        typer.echo(f"ignored:   {candidate}: {why}")


@app.command()
def inventory(config: Path | None = ConfigOpt) -> None:
    """Print this machine's inventory as JSON, with its content hash (nothing is sent)."""
    import psutil

    from campusmon.agent.inventory import InventoryUnavailable, collect
    from campusmon.hashing import content_hash

    _load(config)
    try:
        data, _facts = collect(psutil)
    except InventoryUnavailable as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None
    _echo_json({"hash": content_hash(data), "inventory": data})
