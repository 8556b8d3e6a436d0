"""Uplink down on a simulated switch → a real `campusmon probe run` → Mosquitto → server → one ticket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from campusmon.server.models import Device
from campusmon.server.tickets import TicketService
from tests.support.mqtt import wait_until
from tests.support.snmp_agents import Snmpsim


def write_config(tmp_path: Path, broker_port: int, sim_port: int) -> Path:
    cfg = tmp_path / "probes.toml"
    targets = ""
    for device, community in (("sw-b1-f3", "uplink-down"), ("sw-b2-f1", "healthy")):
        targets += (
            f'[[targets]]\nid = "{device}"\nkind = "snmp"\nhost = "127.0.0.1"\ninterval = 1\ntimeout = 5\n'
            f'[targets.snmp]\nport = {sim_port}\ncommunity = "{community}"\n'
        )
    cfg.write_text(
        f'[runner]\ncampus = "main"\nid = "probe-main"\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {broker_port}\nkeepalive = 5\n'
        '[school_hours]\nmode = "always"\n' + targets,
        encoding="utf-8",
    )
    return cfg


@pytest.mark.slow
def test_uplink_down_opens_exactly_one_ticket_for_the_switch(tmp_path, server_factory, mosquitto) -> None:
    sim = Snmpsim(tmp_path / "sim", ["uplink-down", "healthy"]).start()
    server = server_factory()
    db, metrics = server.db, server.metrics
    assert db is not None and metrics is not None
    log = tmp_path / "runner.log"
    with log.open("wb") as out:
        runner = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "campusmon",
                "probe",
                "run",
                "--config",
                str(write_config(tmp_path, mosquitto.port, sim.port)),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ),
        )
    try:
        opened = wait_until(
            lambda: any(t.problem == "port_down" for t in TicketService(db).list()), timeout=30
        )
        assert opened, log.read_text(errors="replace")[-2000:]
        # several more polls of both switches: still exactly one ticket, for the switch, naming the port
        seen = metrics.report_count("main", "sw-b1-f3")
        assert wait_until(lambda: metrics.report_count("main", "sw-b1-f3") >= seen + 3, timeout=30)
        assert metrics.report_count("main", "sw-b2-f1") >= 3
        tickets = TicketService(db).list()
        assert len(tickets) == 1, [(t.device, t.problem, t.subject) for t in tickets]
        t = tickets[0]
        assert (t.campus, t.device, t.problem, t.subject, t.status) == (
            "main",
            "sw-b1-f3",
            "port_down",
            "Gi1/0/48",
            "open",
        )
        assert t.severity == "critical"

        def states() -> dict[str, str]:
            with db.session() as s:
                return {d.device: d.state for d in s.scalars(select(Device))}

        assert wait_until(
            lambda: states().get("sw-b1-f3") == "online" and states().get("probe-main") == "online"
        )
        # a clean stop: the runner says `shutdown` for itself, nothing new is opened
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(15) == 0
        assert wait_until(lambda: states().get("probe-main") == "shutdown", timeout=10)
        time.sleep(0.5)
        assert len(TicketService(db).list()) == 1
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait(5)
        sim.stop()
