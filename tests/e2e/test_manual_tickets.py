"""Tickets a person touches, through the CLI against a server on a real Mosquitto.

- resolving a `device_down` by hand while the device is still offline: it stays resolved (the CLI says
  the device is still offline), never reopened as a "recurrence"; a loss after the device came back
  opens it again
- `tickets open` refuses an empty summary, an unknown device (unless --force) and a malformed id
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from campusmon.demo.simulator import SimDevice
from campusmon.server.service import Server
from campusmon.server.tickets import TicketService
from tests.support.mqtt import wait_until


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, CAMPUSMON_STORAGE__DATA_DIR=str(data_dir), COLUMNS="200")
    return subprocess.run(
        [sys.executable, "-m", "campusmon", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def sweeps(server: Server, n: int) -> bool:
    assert server.ingestor is not None
    ing = server.ingestor
    start = ing.snapshot().get("sweeps", 0)
    return wait_until(lambda: ing.snapshot().get("sweeps", 0) >= start + n, timeout=30)


@pytest.mark.slow
def test_resolving_an_offline_device_by_hand_stays_resolved(
    tmp_path: Path, server_factory, mosquitto
) -> None:
    server = server_factory(rules__sweep_seconds=0.2)
    data = tmp_path / "server"
    svc = TicketService(server.db)
    pc = SimDevice("main", "c302-pc", mosquitto.host, mosquitto.port, interval=30)
    pc.connect()
    pc.vanish()
    assert wait_until(lambda: [t.status for t in svc.list()] == ["open"], timeout=20)
    (t,) = svc.list()

    out = cli(data, "tickets", "resolve", str(t.id), "--by", "wang", "-m", "PC taken away for repair")
    assert out.returncode == 0, out.stderr
    assert f"ticket #{t.id} is now resolved" in out.stdout
    assert "c302-pc is still offline" in out.stdout and "until seen again" in out.stdout

    assert sweeps(server, 15)  # 3 s of sweeps: the old code reopened it within about one
    shown = json.loads(cli(data, "tickets", "show", str(t.id), "--json").stdout)
    assert shown["status"] == "resolved"
    assert [h["action"] for h in shown["history"]] == ["open", "resolved"]
    assert not any("recurred" in h["note"] for h in shown["history"])
    assert len(svc.list()) == 1

    # seen again, then lost again: that is a new loss, and it is ticketed
    pc.connect()
    assert wait_until(lambda: server.ingestor.snapshot().get("accepted_status", 0) >= 3, timeout=20)
    pc.vanish()
    assert wait_until(lambda: svc.get(t.id).status == "open", timeout=20)
    pc.connect()
    pc.shutdown("test over")


def test_tickets_open_refuses_empty_summary_unknown_device_and_bad_ids(tmp_path: Path) -> None:
    from campusmon.server.config import StorageSettings
    from campusmon.server.db import Database, utcnow
    from campusmon.server.models import Device
    from campusmon.server.register.service import RegisterService

    db = Database(StorageSettings(data_dir=tmp_path).db_url)
    with db.session() as s:  # a device that has reported (the server wrote its row)
        s.add(Device(campus="main", device="c302-panel", state="online", first_seen=utcnow()))
    TicketService(db).open(campus="main", device="c302-panel", problem="device_down", summary="x")
    RegisterService(db).add_room("主校区/教学楼/302")
    db.dispose()

    empty = cli(tmp_path, "tickets", "open", "--room", "302", "--summary", "  ")
    assert empty.returncode != 0 and "summary is empty" in empty.stderr

    typo = cli(tmp_path, "tickets", "open", "--device", "c302-panle", "--summary", "black screen")
    assert typo.returncode != 0
    assert "no device 'c302-panle' in campus 'main' (did you mean 'c302-panel'?)" in typo.stderr
    assert "--force" in typo.stderr

    for bad in ("C302 Panel", "-pc", "x" * 65):
        out = cli(tmp_path, "tickets", "open", "--device", bad, "--summary", "black", "--force")
        assert out.returncode != 0 and "is not valid" in out.stderr, (bad, out.stderr)
    bad_campus = cli(tmp_path, "tickets", "open", "--room", "302", "--summary", "x", "--campus", "Main")
    assert bad_campus.returncode != 0 and "campus id 'Main' is not valid" in bad_campus.stderr
    assert "Traceback" not in typo.stderr + empty.stderr + bad_campus.stderr

    rows = json.loads(cli(tmp_path, "tickets", "list", "--json").stdout)
    assert [r["problem"] for r in rows] == ["device_down"]  # nothing was opened by the refusals

    forced = cli(
        tmp_path, "tickets", "open", "--device", "new-pc", "--summary", "not installed yet", "--force"
    )
    assert forced.returncode == 0 and "opened" in forced.stdout, forced.stderr
    known = cli(tmp_path, "tickets", "open", "--device", "c302-panel", "--summary", "touch dead")
    assert known.returncode == 0 and "opened" in known.stdout, known.stderr
    room = cli(tmp_path, "tickets", "open", "--room", "302", "--summary", "projector flickers")
    assert room.returncode == 0, room.stderr
    rows = json.loads(cli(tmp_path, "tickets", "list", "--json").stdout)
    assert sorted(r["summary"] for r in rows if r["problem"] == "manual") == [
        "not installed yet",
        "projector flickers",
        "touch dead",
    ]
