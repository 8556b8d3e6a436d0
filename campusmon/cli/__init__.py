"""The `campusmon` command. Subcommands import what they need lazily, so the agent stays light."""

from __future__ import annotations

import logging
import sys

import typer

from campusmon import __version__

from . import (
    agent_cmd,
    assets_cmd,
    credentials_cmd,
    inspections_cmd,
    metrics_cmd,
    probe_cmd,
    report_cmd,
    server_cmd,
    tickets_cmd,
    users_cmd,
)

app = typer.Typer(
    name="campusmon",
    help="campusmon: monitoring, fault tickets and asset register for school campuses.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(agent_cmd.app, name="agent")
server_cmd.app.add_typer(credentials_cmd.app, name="credentials")
app.add_typer(server_cmd.app, name="server")
app.add_typer(tickets_cmd.app, name="tickets")
app.add_typer(assets_cmd.app, name="assets")
app.add_typer(probe_cmd.app, name="probe")
app.add_typer(metrics_cmd.app, name="metrics")
app.add_typer(inspections_cmd.app, name="inspections")
app.add_typer(report_cmd.app, name="report")
app.add_typer(users_cmd.app, name="users")
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


#: top-level package -> the extra that installs it, for a clear error on a partial install
EXTRA_FOR = {
    "sqlalchemy": "server",
    "alembic": "server",
    "rich": "server",
    "openpyxl": "server",
    "qrcode": "server",
    "PIL": "server",
    "lxml": "server",
    "influxdb_client": "server",
    "matplotlib": "server",
    "fastapi": "server",
    "starlette": "server",
    "uvicorn": "server",
    "jinja2": "server",
    "argon2": "server",
    "itsdangerous": "server",
    "prometheus_client": "server",
    "multipart": "server",
    "pysnmp": "probes",
    "pyasn1": "probes",
    "cryptography": "probes",
    "psutil": "agent",
    "paho": "agent",
}


def main() -> None:
    try:
        app()
    except ModuleNotFoundError as exc:
        extra = EXTRA_FOR.get((exc.name or "").split(".")[0])
        if extra is None:
            raise
        typer.echo(
            f"error: this command needs campusmon[{extra}] ({exc.name} is not installed): "
            f"pip install 'campusmon[{extra}]'",
            err=True,
        )
        raise SystemExit(3) from None
