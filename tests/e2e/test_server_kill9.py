"""kill -9 of the server (a real `campusmon server run` process) in the middle of a burst of faults:
after a restart no fault is lost (the broker queued them for the persistent session) and no ticket is
duplicated (the database refuses a second active ticket)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from campusmon.demo.simulator import SimDevice
from campusmon.server.db import Database
from campusmon.server.models import Device, Ticket
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import wait_until


def start_server(cfg: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "campusmon", "server", "run", "--config", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=fh,
            env=dict(os.environ),
        )


def wait_log(log: Path, text: str, count: int, timeout: float = 20.0) -> bool:
    return wait_until(
        lambda: log.read_text(errors="replace").count(text) >= count, timeout=timeout, every=0.1
    )


@pytest.mark.slow
def test_kill9_mid_burst_loses_no_fault_and_duplicates_no_ticket(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    data = tmp_path / "server"
    cfg = tmp_path / "server.toml"
    cfg.write_text(
        f'log_level = "info"\n[broker]\nmanaged = false\nhost = "127.0.0.1"\nport = {mosquitto.port}\n'
        f'client_id = "campusmon-kill9"\n[storage]\ndata_dir = "{data}"\n'
        '[schedule]\ndefault = "always"\n[rules]\nsweep_seconds = 0.5\n',
        encoding="utf-8",
    )
    log = tmp_path / "server.log"
    server = start_server(cfg, log)
    devices: dict[str, SimDevice] = {}
    try:
        assert wait_log(log, "connected to broker", 1), log.read_text()
        names = [f"pc{i:03d}" for i in range(60)]
        for n in names:
            devices[n] = SimDevice("main", n, mosquitto.host, mosquitto.port, interval=30)
            devices[n].connect()
        db = Database(f"sqlite:///{data / 'campusmon.db'}", run_migrations=False)

        def online() -> int:
            with db.session() as s:
                return sum(d.state == "online" for d in s.scalars(select(Device)))

        assert wait_until(lambda: online() == 60, timeout=30)
        rng = random.Random(3)
        drops = [threading.Timer(rng.uniform(0, 3.0), devices[n].vanish) for n in names]
        for t in drops:
            t.start()
        time.sleep(1.0)
        server.send_signal(signal.SIGKILL)  # mid-burst: some faults handled, some in flight, some queued
        server.wait(10)
        for t in drops:
            t.join()
        with db.session() as s:
            before = len(list(s.scalars(select(Ticket))))
        assert before < 60, "the kill must come before the burst was handled"
        server = start_server(cfg, log)
        assert wait_log(log, "connected to broker", 2)

        def tickets() -> list[Ticket]:
            with db.session() as s:
                return list(s.scalars(select(Ticket)))

        assert wait_until(lambda: len(tickets()) >= 60, timeout=30), f"{len(tickets())} tickets"
        time.sleep(1.5)  # a few sweeps later: nothing more appears
        got = tickets()
        per_device = Counter((t.device, t.problem) for t in got)
        assert len(got) == 60 and set(per_device.values()) == {1}
        assert {t.device for t in got} == set(names) and {t.status for t in got} == {"open"}
        db.dispose()
    finally:
        if server.poll() is None:
            server.terminate()
            server.wait(15)
