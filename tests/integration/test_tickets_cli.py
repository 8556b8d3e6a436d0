"""`campusmon tickets …` and `campusmon devices` against a real SQLite database, as a technician would use
them: in this process (CliRunner) and as a separate process (tables and --json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campusmon.cli import app
from campusmon.server.config import StorageSettings
from campusmon.server.db import Database
from campusmon.server.tickets import TicketService


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("CAMPUSMON_STORAGE__DATA_DIR", str(tmp_path))
    monkeypatch.setenv("USER", "tech-wang")
    monkeypatch.setenv("LOGNAME", "tech-wang")
    return tmp_path


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.output


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in its own process, as installed."""
    env = dict(os.environ, CAMPUSMON_STORAGE__DATA_DIR=str(data_dir), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "campusmon", *args], env=env, capture_output=True, text=True, check=False
    )


def test_ticket_lifecycle_from_the_command_line(env: Path) -> None:
    code, out = run(
        "tickets", "open", "--room", "302", "--summary", "panel shows no picture", "--by", "teacher-li"
    )
    assert code == 0 and "ticket #1 opened" in out
    code, out = run("tickets", "open", "--device", "c302-panel", "--summary", "x", "--room", "302")
    assert code == 2 and "exactly one of" in out
    db = Database(f"sqlite:///{env / 'campusmon.db'}")
    TicketService(db).open(
        campus="main",
        device="sw-1",
        problem="upstream_down",
        severity="critical",
        room="lab301",
        summary="switch down",
        affected=["pc-1", "pc-2"],
    )
    db.dispose()
    assert run("tickets", "ack", "1")[0] == 0
    assert run("tickets", "start", "1", "--by", "tech-zhao")[0] == 0
    assert run("tickets", "note", "1", "HDMI cable replaced")[0] == 0
    code, out = run("tickets", "resolve", "1", "--note", "works again")
    assert code == 0 and "resolved" in out
    assert run("tickets", "reopen", "1", "--note", "black again")[0] == 0
    assert run("tickets", "resolve", "1")[0] == 0
    assert run("tickets", "close", "1")[0] == 0
    code, out = run("tickets", "reopen", "1")
    assert code == 1 and "closed" in out

    code, out = run("tickets", "show", "1", "--json")
    t = json.loads(out)
    assert t["status"] == "closed" and t["opened_by"] == "teacher-li" and t["room"] == "302"
    assert [(h["actor"], h["action"]) for h in t["history"]] == [
        ("teacher-li", "open"),
        ("tech-wang", "acknowledged"),
        ("tech-zhao", "in_progress"),
        ("tech-wang", "note"),
        ("tech-wang", "resolved"),
        ("tech-wang", "reopen"),
        ("tech-wang", "resolved"),
        ("tech-wang", "closed"),
    ]
    code, out = run("tickets", "list", "--severity", "critical", "--json")
    (sw,) = json.loads(out)
    assert sw["device"] == "sw-1" and [a["device"] for a in sw["affected"]] == ["pc-1", "pc-2"]
    code, out = run("tickets", "list", "--room", "lab301", "--status", "open", "--json")
    assert [x["id"] for x in json.loads(out)] == [2]
    code, out = run("tickets", "list", "--status", "opened")
    assert code == 2 and "did you mean 'open'" in out
    code, out = run("tickets", "show", "2")
    assert code == 0 and "2 affected devices" in out and "pc-2" in out
    assert run("tickets", "show", "99")[0] == 1


def test_check_config_reports_rules_schedule_and_channels(env: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "s.toml"
    cfg.write_text(
        '[notify.channels.it]\nkind = "dingtalk"\nurl = "https://oapi.dingtalk.com/robot/send?access_token=x"\n'
        'secret = "SECx"\n[[notify.routes]]\nchannels = ["it"]\nseverities = ["critical"]\n',
        encoding="utf-8",
    )
    code, out = run("server", "check-config", "--config", str(cfg))
    assert code == 0 and "built-in rules: device_down" in out and "it (dingtalk)" in out
    assert "Asia/Shanghai" in out
    cfg.write_text("[rules.builtin.report_stal]\nenabled = false\n", encoding="utf-8")
    code, out = run("server", "check-config", "--config", str(cfg))
    assert code == 2 and "did you mean 'report_stale'" in out


def test_manual_ticket_is_queued_for_notification(env: Path, tmp_path: Path) -> None:
    from sqlalchemy import select

    from campusmon.server.models import NotifyOutbox

    cfg = tmp_path / "s.toml"
    cfg.write_text(
        f'[storage]\ndata_dir = "{env}"\n[notify.channels.it]\nkind = "webhook"\nurl = "http://127.0.0.1:9/hook"\n'
        '[[notify.routes]]\nchannels = ["it"]\n',
        encoding="utf-8",
    )
    assert run("tickets", "open", "--config", str(cfg), "--room", "302", "--summary", "no sound")[0] == 0
    assert run("tickets", "resolve", "1", "--config", str(cfg))[0] == 0
    db = Database(f"sqlite:///{env / 'campusmon.db'}")
    with db.session() as s:  # the running server's sender delivers these
        assert [(r.ticket_id, r.event) for r in s.scalars(select(NotifyOutbox))] == [
            (1, "opened"),
            (1, "resolved"),
        ]
    db.dispose()


def test_ticket_commands(tmp_path: Path) -> None:
    db = Database(StorageSettings(data_dir=tmp_path).db_url)
    svc = TicketService(db)
    t1 = svc.open(
        campus="main", device="c302-panel", problem="device_down", summary="c302-panel went offline"
    )
    svc.open(campus="main", device="lab301-pc07", problem="disk_full", subject="/", summary="disk 93 %")
    svc.resolve_auto(campus="main", device="c302-panel", problem="device_down", note="came back online")
    db.dispose()

    listed = cli(tmp_path, "tickets", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = json.loads(listed.stdout)
    assert [(r["device"], r["status"]) for r in rows] == [("c302-panel", "resolved"), ("lab301-pc07", "open")]

    only_open = json.loads(cli(tmp_path, "tickets", "list", "--status", "open", "--json").stdout)
    assert [r["problem"] for r in only_open] == ["disk_full"]

    shown = json.loads(cli(tmp_path, "tickets", "show", str(t1.ticket_id), "--json").stdout)
    assert [h["action"] for h in shown["history"]] == ["open", "auto_resolve"]

    table = cli(tmp_path, "tickets", "list")
    assert "lab301-pc07" in table.stdout and "disk_full" in table.stdout

    bad = cli(tmp_path, "tickets", "list", "--status", "opne")
    assert bad.returncode == 2 and "did you mean 'open'" in bad.stderr

    missing = cli(tmp_path, "tickets", "show", "999")
    assert missing.returncode == 1 and "no ticket #999" in missing.stderr

    assert json.loads(cli(tmp_path, "devices", "--json").stdout) == []


def test_bad_config_is_a_clear_error(tmp_path: Path) -> None:
    cfg = tmp_path / "server.toml"
    cfg.write_text("[broker]\nprot = 1884\n", encoding="utf-8")
    out = cli(tmp_path, "server", "check-config", "--config", str(cfg))
    assert out.returncode == 2
    assert "unknown key 'broker.prot' (did you mean 'port'?)" in out.stderr


def test_open_refuses_a_device_id_the_contract_does_not_allow(env: Path) -> None:
    code, out = run("tickets", "open", "--device", "PC 1", "--summary", "no picture")
    assert code == 1 and "'PC 1'" in out and "not valid" in out
    assert run("tickets", "list", "--json")[1].strip() == "[]"
