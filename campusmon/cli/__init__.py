"""The `campusmon` command. Subcommands import what they need lazily, so the agent stays light."""

from __future__ import annotations

import logging
import sys

import typer

from campusmon import __version__

from . import agent_cmd, assets_cmd, probe_cmd, server_cmd, tickets_cmd

app = typer.Typer(
    name="campusmon",
    help="campusmon: monitoring, fault tickets and asset register for school campuses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(agent_cmd.app, name="agent")
app.add_typer(server_cmd.app, name="server")
app.add_typer(tickets_cmd.app, name="tickets")
app.add_typer(assets_cmd.app, name="assets")
app.add_typer(probe_cmd.app, name="probe")
app.command("devices")(server_cmd.devices)
app.command("demo")(server_cmd.demo)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"campusmon {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version."
    ),
) -> None:
    """campusmon: monitoring, fault tickets and asset register for school campuses."""


def setup_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def main() -> None:
    app()
