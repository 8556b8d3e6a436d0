"""The server's managed Mosquitto: written config, supervised (restarted when it dies), stopped with us."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import psutil
import pytest

from campusmon.server.broker import BrokerError, ManagedBroker, port_open
from tests.support.mosquitto import free_port
from tests.support.mqtt import wait_until


def test_restarted_after_a_crash_and_stopped_cleanly(tmp_path: Path) -> None:
    port = free_port()
    broker = ManagedBroker(tmp_path / "broker", port=port)
    broker.start()
    try:
        conf = broker.config_path.read_text()
        assert f"listener {port} 127.0.0.1" in conf
        assert "max_queued_messages 200000" in conf
        first = broker.pid
        assert first is not None
        os.kill(first, signal.SIGKILL)
        assert wait_until(lambda: broker.restarts == 1 and port_open("127.0.0.1", port), timeout=15)
        assert broker.pid != first
    finally:
        broker.stop()
    assert not port_open("127.0.0.1", port)
    assert (
        broker.pid is not None
        and not psutil.pid_exists(broker.pid)
        or psutil.Process(broker.pid).status() == psutil.STATUS_ZOMBIE
    )


def test_busy_port_and_missing_binary_are_clear_errors(tmp_path: Path, mosquitto) -> None:
    with pytest.raises(BrokerError, match="already in use"):
        ManagedBroker(tmp_path / "b1", port=mosquitto.port).start()
    with pytest.raises(BrokerError, match="apt-get install -y mosquitto"):
        ManagedBroker(tmp_path / "b2", port=free_port(), binary="no-such-mosquitto").start()


def test_server_run_process_with_managed_broker_and_cli(tmp_path: Path) -> None:
    """`campusmon server run` starts its broker, takes reports, and SIGTERM stops both (exit 0)."""
    port = free_port()
    env = dict(os.environ, CAMPUSMON_BROKER__PORT=str(port), CAMPUSMON_STORAGE__DATA_DIR=str(tmp_path / "d"))
    server = subprocess.Popen(
        [sys.executable, "-m", "campusmon", "server", "run"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    agent_cfg = tmp_path / "agent.toml"
    agent = None
    try:
        assert wait_until(lambda: port_open("127.0.0.1", port), timeout=20)
        # what a technician runs on the server to give the agent its own broker user
        login = json.loads(
            subprocess.run(
                [sys.executable, "-m", "campusmon", "server", "credentials", "add-device"]
                + ["--campus", "north", "--device", "pc-1", "--json"],
                env=env,
                capture_output=True,
                check=True,
                text=True,
            ).stdout
        )
        assert (login["username"], login["port"]) == ("north.pc-1", port)
        agent_cfg.write_text(
            f'[agent]\ncampus = "north"\ndevice = "pc-1"\ninterval = 1\n'
            f'state_dir = "{tmp_path / "s"}"\n[mqtt]\nport = {port}\n'
            f'username = "{login["username"]}"\npassword = "{login["password"]}"\n',
            encoding="utf-8",
        )
        agent = subprocess.Popen(
            [sys.executable, "-m", "campusmon", "agent", "run", "-c", str(agent_cfg)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

        def devices() -> list[dict[str, Any]]:
            out = subprocess.run(
                [sys.executable, "-m", "campusmon", "devices", "--json"],
                env=env,
                capture_output=True,
                check=True,
                text=True,
            ).stdout
            return list(json.loads(out))

        assert wait_until(
            lambda: any(
                d["device"] == "pc-1" and d["state"] == "online" and (d["last_seq"] or 0) >= 1
                for d in devices()
            ),
            timeout=30,
            every=0.5,
        )
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(10) == 0
        assert wait_until(lambda: devices()[0]["state"] == "shutdown", timeout=10, every=0.3)
        tickets = subprocess.run(
            [sys.executable, "-m", "campusmon", "tickets", "list", "--json"],
            env=env,
            capture_output=True,
            check=True,
            text=True,
        ).stdout
        assert json.loads(tickets) == []
        broker_pid = int(
            next(p.pid for p in psutil.Process(server.pid).children() if "mosquitto" in p.name())
        )
    finally:
        if agent is not None and agent.poll() is None:
            agent.kill()
        server.send_signal(signal.SIGTERM)
        code = server.wait(20)
    assert code == 0, server.stdout.read().decode() if server.stdout else ""
    time.sleep(0.2)
    assert not psutil.pid_exists(broker_pid)
    assert not port_open("127.0.0.1", port)


def test_server_and_in_process_probe_runner_log_in_with_their_own_users(tmp_path: Path) -> None:
    """With the managed broker (no anonymous client), the server reads with its user and the in-process
    probe runner publishes as `probe-main`, whose ACL admits campus `main` only."""
    import socket

    from sqlalchemy import select

    from campusmon.server.config import (
        BrokerSettings,
        ProbesSettings,
        ScheduleSettings,
        ServerConfig,
        StorageSettings,
    )
    from campusmon.server.models import Device
    from campusmon.server.service import Server

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    settings = {
        "runner": {"id": "probe-main", "jitter": 0.0},
        "school_hours": {"mode": "always"},
        "targets": [
            {"id": "web-1", "kind": "tcp", "host": "127.0.0.1", "interval": 1}
            | {"tcp": {"port": listener.getsockname()[1]}},
        ],
    }
    cfg = ServerConfig(
        broker=BrokerSettings(managed=True, port=free_port()),
        storage=StorageSettings(data_dir=tmp_path / "d"),
        schedule=ScheduleSettings(default="always"),
        probes=ProbesSettings(enabled=True, campus="main", settings=settings),
    )
    server = Server(cfg)
    try:
        server.start()
        assert server.connected and server.probes is not None and server.probes.running
        assert server.probes.config.mqtt.username == "probe-main"
        db = server.db
        assert db is not None

        def states() -> dict[str, str]:
            with db.session() as s:
                return {d.device: d.state for d in s.scalars(select(Device))}

        assert wait_until(lambda: states().get("probe-main") == "online", timeout=20), states()
        metrics = server.metrics
        assert metrics is not None
        assert wait_until(lambda: metrics.report_count("main", "web-1") >= 2, timeout=20)
    finally:
        server.stop()
        listener.close()
    acl = (tmp_path / "d" / "broker" / "acl").read_text()
    assert "user probe-main\ntopic write campusmon/main/+/+" in acl
