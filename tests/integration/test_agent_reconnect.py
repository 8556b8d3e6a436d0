"""A real agent process (default reconnect settings, its own broker user) against the managed Mosquitto,
stopped for 15 s and started again: the agent is back within reconnect_fast_seconds (5 s) of the
broker's return, plus the time to connect (bound asserted: 7.5 s on a loaded 2-core machine)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from campusmon.server.broker import ManagedBroker, port_open
from tests.support.mosquitto import free_port
from tests.support.mqtt import Recorder, wait_until

OUTAGE_SECONDS = 15.0
FAST_SECONDS = 5.0  # the default reconnect_fast_seconds
BOUND_SECONDS = FAST_SECONDS + 2.5


def online_since(rec: Recorder, since: float) -> float | None:
    """The `ts` of an `online` status published at or after `since` (None: not yet)."""
    for _, payload, _ in list(rec.messages):
        status = json.loads(payload)
        if status.get("state") == "online" and status["ts"] >= since:
            return float(status["ts"])
    return None


@pytest.mark.slow
def test_agent_is_back_within_the_fast_cap_after_a_broker_restart(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "data"
    data.mkdir(mode=0o700)
    broker = ManagedBroker(data / "broker", port=port)
    broker.start()
    login = broker.users.add_device("main", "pc-r")
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        f'[agent]\ncampus = "main"\ndevice = "pc-r"\ninterval = 5\nstate_dir = "{tmp_path / "state"}"\n'
        'collectors = ["cpu", "memory"]\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive = 5\n'
        f'username = "{login.username}"\npassword = "{login.password}"\n',
        encoding="utf-8",
    )
    log = tmp_path / "agent.log"
    with log.open("wb") as out:
        agent = subprocess.Popen(
            [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=out,
            env=dict(os.environ),
        )

    def server_recorder(b: ManagedBroker) -> Recorder:
        assert b.server_login is not None
        return Recorder(
            "127.0.0.1",
            port,
            "campusmon/main/pc-r/status",
            username=b.server_login.username,
            password=b.server_login.password,
        )

    rec = server_recorder(broker)
    try:
        t0 = time.time()
        assert wait_until(lambda: online_since(rec, t0 - 5) is not None, timeout=20), log.read_text()
        time.sleep(11.0)  # a healthy connection (10 s), so the next outage starts with the fast phase
        rec.close()
        broker.stop()
        assert not port_open("127.0.0.1", port)
        time.sleep(OUTAGE_SECONDS)
        broker = ManagedBroker(data / "broker", port=port)  # same users, same port
        broker.start()
        back = time.time()
        rec = server_recorder(broker)
        assert wait_until(lambda: online_since(rec, back - 1.0) is not None, timeout=40), log.read_text()
        latency = (online_since(rec, back - 1.0) or 0.0) - back
        text = log.read_text(encoding="utf-8", errors="replace")
        retries = [float(s) for s in re.findall(r"retrying in ([0-9.]+) s", text)]
        # every wait of the outage stayed in the fast phase, and the agent was back within the bound
        assert len(retries) >= 4 and max(retries) <= FAST_SECONDS, retries
        assert latency < BOUND_SECONDS, (latency, retries)
    finally:
        agent.terminate()
        try:
            agent.wait(15)
        except subprocess.TimeoutExpired:
            agent.kill()
            agent.wait(5)
        rec.close()
        broker.stop()
