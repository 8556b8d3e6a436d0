"""`campusmon agent run|once`."""

from __future__ import annotations

import json
from pathlib import Path

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


def _load(path: Path | None):  # type: ignore[no-untyped-def]
    from campusmon.agent.config import load_agent_config

    try:
        return load_agent_config(path)
    except ConfigError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command()
def run(config: Path | None = ConfigOpt) -> None:
    """Report health every interval until stopped (SIGTERM/SIGINT publish `shutdown`)."""
    from campusmon.agent.runner import Agent
    from campusmon.cli import setup_logging

    cfg = _load(config)
    setup_logging(cfg.agent.log_level)
    agent = Agent(cfg)
    agent.install_signal_handlers()
    agent.run()


@app.command()
def once(config: Path | None = ConfigOpt) -> None:
    """Collect one report and print it as JSON (nothing is sent)."""
    from campusmon.agent.runner import once as collect_once

    cfg = _load(config)
    typer.echo(json.dumps(collect_once(cfg), indent=2, ensure_ascii=False))
