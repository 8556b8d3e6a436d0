"""`campusmon users …`: console accounts (admin, technician, viewer) and API tokens for scripts."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from .server_cmd import ConfigOpt, JsonOpt, fmt_time, open_db

if TYPE_CHECKING:
    from campusmon.server.services import Actor
    from campusmon.server.services.users import UserService

app = typer.Typer(help="Console users, roles and API tokens.", no_args_is_help=True)
ACTOR = "cli"


@contextmanager
def service(config: Path | None) -> Iterator[UserService]:
    from campusmon.server.services import Conflict, Invalid, NotFound
    from campusmon.server.services.users import UserService

    db = open_db(config)
    try:
        yield UserService(db)
    except (Invalid, Conflict, NotFound) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    finally:
        db.dispose()


def _actor() -> Actor:
    import getpass

    from campusmon.server.services import Actor

    return Actor(f"cli:{getpass.getuser()}", "admin")


def _password(password: str | None) -> str:
    if password is not None:
        return password
    return str(typer.prompt("password", hide_input=True, confirmation_prompt=True))


@app.command("add")
def add(
    username: str = typer.Argument(..., help="Log-in name: a-z 0-9 . _ -"),
    role: str = typer.Option("technician", "--role", "-r", help="admin, technician or viewer."),
    name: str = typer.Option("", "--name", help="Display name (张老师)."),
    password: str | None = typer.Option(
        None, "--password", envvar="CAMPUSMON_NEW_PASSWORD", help="Default: asked (not echoed)."
    ),
    config: Path | None = ConfigOpt,
) -> None:
    """Add a console user."""
    pw = _password(password)
    with service(config) as svc:
        user = svc.add(username, pw, role, actor=_actor(), display_name=name)
    typer.echo(f"user {user.username} ({user.role}) added")


@app.command("passwd")
def passwd(
    username: str = typer.Argument(...),
    password: str | None = typer.Option(None, "--password", envvar="CAMPUSMON_NEW_PASSWORD"),
    config: Path | None = ConfigOpt,
) -> None:
    """Set a new password (every open session of the user ends)."""
    pw = _password(password)
    with service(config) as svc:
        svc.set_password(username, pw, actor=_actor())
    typer.echo(f"password of {username} changed")


@app.command("list")
def list_users(config: Path | None = ConfigOpt, as_json: bool = JsonOpt) -> None:
    """Every user, with role and last login."""
    with service(config) as svc:
        users = svc.all()
    if as_json:
        typer.echo(
            json.dumps(
                [
                    {
                        "username": u.username,
                        "name": u.display_name,
                        "role": u.role,
                        "disabled": u.disabled,
                        "last_login": u.last_login_at.isoformat() if u.last_login_at else None,
                    }
                    for u in users
                ],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for u in users:
        flag = " (disabled)" if u.disabled else ""
        last = fmt_time(u.last_login_at)
        typer.echo(f"{u.username:20} {u.role:11} {u.display_name or '-':12} last login {last}{flag}")


@app.command("disable")
def disable(
    username: str = typer.Argument(...),
    enable: bool = typer.Option(False, "--enable", help="Enable the user again."),
    config: Path | None = ConfigOpt,
) -> None:
    """Disable a user: sessions end at once, API tokens are revoked."""
    with service(config) as svc:
        svc.set_disabled(username, not enable, actor=_actor())
    typer.echo(f"{username} {'enabled' if enable else 'disabled'}")


@app.command("token")
def token(
    username: str = typer.Argument(...),
    name: str = typer.Option("script", "--name", help="What the token is for."),
    revoke: int | None = typer.Option(None, "--revoke", metavar="ID", help="Revoke token ID instead."),
    list_: bool = typer.Option(False, "--list", help="List the user's tokens."),
    config: Path | None = ConfigOpt,
) -> None:
    """Make an API token (printed once; send it as `Authorization: Bearer …`), list or revoke them."""
    with service(config) as svc:
        if list_:
            for t in svc.tokens(username):
                state = "revoked" if t.revoked else f"last used {fmt_time(t.last_used_at)}"
                typer.echo(f"{t.id:5} {t.name:20} {t.prefix}…  {state}")
            return
        if revoke is not None:
            svc.revoke_token(username, revoke, actor=_actor())
            typer.echo(f"token {revoke} revoked")
            return
        view, secret = svc.create_token(username, name, actor=_actor())
    typer.echo(secret)
    typer.echo(f"token {view.id} ({view.name}) for {username}: shown once, only its hash is kept", err=True)
