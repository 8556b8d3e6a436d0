"""`campusmon server credentials …`: the users of the managed broker (devices, probe runners)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .server_cmd import ConfigOpt, JsonOpt, load_config

if TYPE_CHECKING:
    from campusmon.server.broker_auth import BrokerUsers
    from campusmon.server.config import ServerConfig

app = typer.Typer(
    help="Credentials of the managed broker: one user per device, bound to its campus.",
    no_args_is_help=True,
)

CampusOpt = typer.Option(..., "--campus", help="Campus id (lowercase letters, digits, - and _).")
DeviceOpt = typer.Option(..., "--device", help="Device id, as in the agent's agent.device.")


def _users(cfg: ServerConfig) -> BrokerUsers:
    from campusmon.server.broker_auth import BrokerUsers

    if not cfg.broker.managed:
        typer.echo(
            "error: broker.managed = false: this server does not run the broker, so it does not make its "
            "credentials (with deploy/ansible, the campusmon_broker role does)",
            err=True,
        )
        raise typer.Exit(2)
    return BrokerUsers(cfg.storage.data_dir / "broker", cfg.broker.root)


@contextlib.contextmanager
def _clear_errors() -> Iterator[None]:
    """A credentials problem (bad id, taken id, unreadable directory) is a message and exit 1."""
    from campusmon.server.broker_auth import CredentialsError

    try:
        yield
    except CredentialsError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def _toml_str(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _write_new(path: Path, text: str) -> None:
    """A new 0600 file; never overwrites, never follows a symlink."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    except FileExistsError:
        typer.echo(
            f"error: {path} exists; choose a new file (it would hold a password: nothing is overwritten)",
            err=True,
        )
        raise typer.Exit(1) from None
    except OSError as exc:
        typer.echo(f"error: cannot write {path}: {exc.strerror}", err=True)
        raise typer.Exit(1) from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


@app.command("add-device")
def add_device(
    campus: str = CampusOpt,
    device: str = DeviceOpt,
    replace: bool = typer.Option(
        False, "--replace", help="Issue a new password for a device that has one (the old one stops working)."
    ),
    out: Path | None = typer.Option(
        None, "--out", help="Write the agent config to this new file (0600) instead of printing it."
    ),
    config: Path | None = ConfigOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Give a device its own broker user and print its agent config (the password is shown only once).

    The device may then publish only campusmon/<campus>/<device>/…; a running broker picks it up at once.
    """
    cfg = load_config(config)
    users = _users(cfg)
    with _clear_errors():
        login = users.add_device(campus, device, replace=replace)
    b = cfg.broker
    if as_json:
        typer.echo(
            json.dumps(
                {"campus": campus, "device": device, "host": b.host, "port": b.port, "root": b.root}
                | {"username": login.username, "password": login.password},
                indent=2,
            )
        )
        return
    text = (
        f"# campusmon agent {campus}/{device}: its own broker user (it may write only its own topics).\n"
        "# Keep this file private (chmod 600): it holds the device's password, shown only once.\n"
        f"[agent]\ncampus = {_toml_str(campus)}\ndevice = {_toml_str(device)}\n\n"
        f"[mqtt]\nhost = {_toml_str(b.host)}\nport = {b.port}\nroot = {_toml_str(b.root)}\n"
        f"username = {_toml_str(login.username)}\npassword = {_toml_str(login.password)}\n"
    )
    if out is None:
        typer.echo(text, nl=False)
        return
    _write_new(out, text)
    typer.echo(f"wrote {out} (agent config for {campus}/{device}, mode 0600)")


@app.command("remove-device")
def remove_device(campus: str = CampusOpt, device: str = DeviceOpt, config: Path | None = ConfigOpt) -> None:
    """Take a device's broker user away (a stolen or retired PC): it cannot log in any more."""
    users = _users(load_config(config))
    with _clear_errors():
        found = users.remove_device(campus, device)
    if not found:
        typer.echo(f"error: device {campus}/{device} has no credentials", err=True)
        raise typer.Exit(1)
    typer.echo(f"removed the broker user of {campus}/{device}")


@app.command("list")
def list_users(config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """The broker's users: the server, the probe runners and every device (never a password)."""
    from campusmon.server.broker_auth import SERVER_USER, device_username, probe_username

    users = _users(load_config(config))
    with _clear_errors():
        devices = users.devices()
        probes = users.probe_campuses()
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "server": SERVER_USER,
                    "probes": [{"campus": c, "username": probe_username(c)} for c in probes],
                    "devices": [
                        {"campus": d.campus, "device": d.device, "username": d.username, "added": d.added}
                        for d in devices
                    ],
                },
                indent=2,
            )
        )
        return
    typer.echo(f"server       {SERVER_USER} (reads every topic)")
    for c in probes:
        typer.echo(f"probe runner {probe_username(c)} (writes {c}/…)")
    for d in devices:
        added = dt.datetime.fromtimestamp(d.added).strftime("%Y-%m-%d %H:%M")
        user = device_username(d.campus, d.device)
        typer.echo(f"device       {user} (writes {d.campus}/{d.device}/…, added {added})")
    typer.echo(f"{len(devices)} devices")


@app.command("probe-runner")
def probe_runner(campus: str = CampusOpt, config: Path | None = ConfigOpt) -> None:
    """Print the [mqtt] section for a probe runner of CAMPUS on this machine (it may write that campus)."""
    cfg = load_config(config)
    with _clear_errors():
        login = _users(cfg).probe_login(campus)
    b = cfg.broker
    typer.echo(
        f"# campusmon probe runner of campus {campus} (keep this file private: chmod 600)\n"
        f"[runner]\ncampus = {_toml_str(campus)}\n\n"
        f"[mqtt]\nhost = {_toml_str(b.host)}\nport = {b.port}\nroot = {_toml_str(b.root)}\n"
        f"username = {_toml_str(login.username)}\npassword = {_toml_str(login.password)}",
    )
