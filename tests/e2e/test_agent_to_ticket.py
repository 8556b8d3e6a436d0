"""A real `campusmon agent run` process → real Mosquitto → server → ticket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campusmon.server.tickets import TicketService
from tests.support.mqtt import wait_until


def start_agent(tmp_path: Path, port: int, device: str = "pc-e2e") -> subprocess.Popen[bytes]:
    cfg = tmp_path / f"{device}.toml"
    cfg.write_text(
        f'[agent]\ncampus = "main"\ndevice = "{device}"\ninterval = 1\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive = 5\n',
        encoding="utf-8",
    )
    return subprocess.Popen(
        [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(cfg)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=dict(os.environ),
    )


@pytest.mark.slow
def test_kill9_opens_ticket_restart_resolves_sigterm_opens_nothing(
    tmp_path, server_factory, mosquitto
) -> None:
    server = server_factory()
    db = server.db
    assert db is not None and server.metrics is not None
    agent = start_agent(tmp_path, mosquitto.port)
    try:
        assert wait_until(lambda: server.metrics.report_count("main", "pc-e2e") >= 2, timeout=15)
        # power cut: kill -9 → the broker publishes the will → "device down" ticket within 5 s
        agent.send_signal(signal.SIGKILL)
        agent.wait(5)
        killed_at = time.monotonic()
        assert wait_until(
            lambda: any(t.problem == "device_down" and t.status == "open" for t in TicketService(db).list()),
            timeout=5,
        )
        assert time.monotonic() - killed_at < 5
        # it comes back → the same ticket is resolved automatically, with a history entry
        agent = start_agent(tmp_path, mosquitto.port)
        assert wait_until(lambda: TicketService(db).list()[0].status == "resolved", timeout=10)
        ticket = TicketService(db).get(TicketService(db).list()[0].id)
        assert [h.action for h in ticket.history] == ["open", "auto_resolve"]
        assert "came back online" in ticket.history[-1].note
        # seq survived the restart: no duplicates were dropped, none reused
        seqs = server.metrics.seqs("main", "pc-e2e")
        assert len(seqs) == len(set(seqs))
        # clean stop → `shutdown`, exit 0, no ticket
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0
        from sqlalchemy import select

        from campusmon.server.models import Device

        def state() -> str:
            with db.session() as s:
                return str(s.scalars(select(Device.state).where(Device.device == "pc-e2e")).one())

        assert wait_until(lambda: state() == "shutdown", timeout=5)
        time.sleep(1.0)
        tickets = TicketService(db).list()
        assert len(tickets) == 1 and tickets[0].status == "resolved"
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait(5)
