"""`campusmon tickets list|show` and `campusmon devices` on a real database (tables and --json)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from campusmon.server.config import StorageSettings
from campusmon.server.db import Database
from campusmon.server.tickets import TicketService


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CAMPUSMON_STORAGE__DATA_DIR=str(data_dir), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "campusmon", *args], env=env, capture_output=True, text=True, check=False
    )


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
