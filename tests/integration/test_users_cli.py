"""`campusmon users add|passwd|list|disable|token` against a real SQLite database, and what the console
and the API then accept: the CLI is how the first admin is made and how accounts are locked out."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campusmon.cli import app
from tests.support.web import WebHarness, form_token

PW = "a long enough pass"


@pytest.fixture
def web(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[WebHarness]:
    """The console on the database the CLI writes to (data_dir tmp/server)."""
    h = WebHarness(tmp_path)
    monkeypatch.setenv("CAMPUSMON_STORAGE__DATA_DIR", str(h.config.storage.data_dir))
    monkeypatch.delenv("CAMPUSMON_NEW_PASSWORD", raising=False)
    try:
        yield h
    finally:
        h.close()


def run(*args: str, stdin: str | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["users", *args], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def api(h: WebHarness, token: str) -> int:
    return int(h.client().get("/api/v1/devices", headers={"Authorization": f"Bearer {token}"}).status_code)


def can_log_in(h: WebHarness, username: str, password: str) -> bool:
    c = h.client()
    r = c.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": form_token(c.get("/login").text)},
    )
    return bool(r.status_code == 303)


def test_add_list_passwd(web: WebHarness) -> None:
    code, out, _ = run("add", "wang.li", "--role", "technician", "--name", "王老师", "--password", PW)
    assert (code, out.strip()) == (0, "user wang.li (technician) added")
    # asked on the terminal (twice, not echoed) when --password is not given
    code, out, _ = run("add", "zhao", "--role", "viewer", stdin=f"{PW}\n{PW}\n")
    assert code == 0 and "user zhao (viewer) added" in out
    code, out, _ = run("list", "--json")
    rows = {u["username"]: u for u in json.loads(out)}
    assert rows["wang.li"] == {
        "username": "wang.li", "name": "王老师", "role": "technician", "disabled": False, "last_login": None,
    }  # fmt: skip
    assert rows["zhao"]["role"] == "viewer" and {"admin", "technician", "viewer"} <= set(rows)
    assert can_log_in(web, "wang.li", PW)
    code, out, _ = run("list")
    line = next(ln for ln in out.splitlines() if ln.startswith("wang.li"))
    assert "technician" in line and "王老师" in line and "last login -" not in line  # logged in just now

    code, out, _ = run("passwd", "wang.li", "--password", "another long one")
    assert (code, out.strip()) == (0, "password of wang.li changed")
    assert not can_log_in(web, "wang.li", PW) and can_log_in(web, "wang.li", "another long one")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("add", "li", "--role", "root", "--password", PW), "role must be one of admin, technician, viewer"),
        (("add", "li", "--password", "short"), "a password has at least 10 characters"),
        (("add", "Bad Name!", "--password", PW), "a user name is 2-64 of"),
        (("add", "admin", "--password", PW), "user 'admin' exists"),
        (("passwd", "nobody", "--password", PW), "no user 'nobody'"),
        (("passwd", "viewer", "--password", "short"), "a password has at least 10 characters"),
        (("disable", "nobody"), "no user 'nobody'"),
        (("token", "nobody"), "no user 'nobody'"),
        (("token", "viewer", "--revoke", "99"), "no token #99 of viewer"),
    ],
)  # fmt: skip
def test_refusals_say_why_and_change_nothing(web: WebHarness, args: tuple[str, ...], message: str) -> None:
    before = web.ctx.users.all()
    code, out, err = run(*args)
    assert code == 2, out + err
    assert message in err and out == ""
    assert web.ctx.users.all() == before


def test_prompted_passwords_must_match(web: WebHarness) -> None:
    code, _, _ = run("add", "li", stdin=f"{PW}\nsomething else\n{PW}\n{PW}\n")
    assert code == 0
    assert can_log_in(web, "li", PW)


def test_tokens_and_disabling(web: WebHarness) -> None:
    code, out, err = run("token", "technician", "--name", "nightly export")
    assert code == 0 and "shown once" in err
    secret = out.strip()
    assert secret.startswith("cmt_") and len(secret) > 30
    assert api(web, secret) == 200
    assert api(web, secret[:-1] + ("x" if secret[-1] != "x" else "y")) == 401
    code, out, _ = run("token", "technician", "--list")
    assert code == 0 and "nightly export" in out and secret not in out and "last used" in out

    # disabled: the token is refused by the API, logging in is refused, no new token is made
    code, out, _ = run("disable", "technician")
    assert (code, out.strip()) == (0, "technician disabled")
    assert api(web, secret) == 401
    assert not can_log_in(web, "technician", "correct horse battery")
    code, out, err = run("token", "technician")
    assert code == 2 and "is disabled" in err and out == ""
    assert json.loads(run("list", "--json")[1])[1]["disabled"] is True

    # enabled again: the password works, the old token stays revoked, a new one works
    code, out, _ = run("disable", "technician", "--enable")
    assert (code, out.strip()) == (0, "technician enabled")
    assert can_log_in(web, "technician", "correct horse battery")
    assert api(web, secret) == 401
    assert "revoked" in run("token", "technician", "--list")[1]
    fresh = run("token", "technician")[1].strip()
    assert api(web, fresh) == 200

    # revoking one token by id
    token_id = int(run("token", "technician", "--list")[1].splitlines()[-1].split()[0])
    code, out, _ = run("token", "technician", "--revoke", str(token_id))
    assert (code, out.strip()) == (0, f"token {token_id} revoked")
    assert api(web, fresh) == 401
