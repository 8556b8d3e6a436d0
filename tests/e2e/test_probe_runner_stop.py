"""The probe runner's own stop: a real `campusmon probe run` with 20 targets and a real `campusmon server
run`, both on a real Mosquitto. A clean stop gives no ticket; a kill -9 gives exactly one, for the runner;
its targets follow it (not observed) instead of each going stale or down."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import wait_until

TARGETS = [f"web-{i:02d}" for i in range(20)]


def cli(*args: str, config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "campusmon", *args, "--config", str(config)],
        capture_output=True,
        check=False,
        text=True,
        timeout=60,
        env=dict(os.environ),
    )


def devices(config: Path) -> dict[str, dict[str, object]]:
    out = cli("devices", "--json", config=config)
    assert out.returncode == 0, out.stderr
    return {d["device"]: d for d in json.loads(out.stdout)}


def tickets(config: Path) -> list[dict[str, object]]:
    out = cli("tickets", "list", "--json", config=config)
    assert out.returncode == 0, out.stderr
    rows: list[dict[str, object]] = json.loads(out.stdout)
    return rows


@pytest.fixture
def listener() -> Iterator[int]:
    """A TCP port that accepts and closes (the targets' service); accepting keeps its backlog empty."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(256)
    sock.settimeout(0.2)
    done = threading.Event()

    def serve() -> None:
        while not done.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield sock.getsockname()[1]
    finally:
        done.set()
        thread.join(5)
        sock.close()


def start(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as fh:
        return subprocess.Popen(
            [sys.executable, "-m", "campusmon", *args],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=fh,
            env=dict(os.environ),
        )


@pytest.mark.slow
def test_runner_clean_stop_gives_no_ticket_and_kill9_exactly_one(
    tmp_path: Path, mosquitto: MosquittoProcess, listener: int
) -> None:
    server_cfg = tmp_path / "server.toml"
    server_cfg.write_text(
        f'[broker]\nmanaged = false\nhost = "127.0.0.1"\nport = {mosquitto.port}\n'
        f'client_id = "srv-runner-stop"\n[storage]\ndata_dir = "{tmp_path / "data"}"\n'
        # a loaded 2-core machine may delay a check by seconds: stale only after 4 x 2 s of silence
        '[schedule]\ndefault = "always"\n[rules]\nsweep_seconds = 0.5\nstale_intervals = 4\n',
        encoding="utf-8",
    )
    probe_cfg = tmp_path / "probes.toml"
    probe_cfg.write_text(
        f'[runner]\ncampus = "main"\nid = "probe-main"\nstate_dir = "{tmp_path / "state"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {mosquitto.port}\nkeepalive = 5\n'
        '[school_hours]\nmode = "always"\n'
        + "".join(
            f'[[targets]]\nid = "{t}"\nkind = "tcp"\nhost = "127.0.0.1"\ninterval = 2\ntimeout = 2\n'
            f"[targets.tcp]\nport = {listener}\n"
            for t in TARGETS
        ),
        encoding="utf-8",
    )
    server = start(["server", "run", "--config", str(server_cfg)], tmp_path / "server.log")
    runner: subprocess.Popen[bytes] | None = None
    try:

        def all_online() -> bool:
            d = devices(server_cfg)
            return all(d.get(t, {}).get("state") == "online" for t in [*TARGETS, "probe-main"])

        def run_runner() -> subprocess.Popen[bytes]:
            proc = start(["probe", "run", "--config", str(probe_cfg)], tmp_path / "runner.log")
            assert wait_until(all_online, timeout=60, every=0.5), (
                {k: v["state"] for k, v in devices(server_cfg).items()},
                (tmp_path / "server.log").read_text()[-3000:],
            )
            # a few reports of every target, so each is known to report every 2 s
            time.sleep(5)
            return proc

        runner = run_runner()
        assert tickets(server_cfg) == [], [t["summary"] for t in tickets(server_cfg)]

        # clean stop (SIGTERM): the runner says `shutdown`; its targets are not observed any more
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(20) == 0
        # silence of 4 report intervals (8 s) would make a target stale: wait well past that
        time.sleep(14)
        assert tickets(server_cfg) == [], [t["summary"] for t in tickets(server_cfg)]
        d = devices(server_cfg)
        assert d["probe-main"]["state"] == "shutdown"
        assert {d[t]["state"] for t in TARGETS} == {"unknown"}
        assert "probe runner probe-main stopped" in str(d[TARGETS[0]]["state_reason"])

        # back: the targets follow it online again; then kill -9 (the runner's will says `lost`)
        runner = run_runner()
        assert tickets(server_cfg) == [], [t["summary"] for t in tickets(server_cfg)]
        runner.send_signal(signal.SIGKILL)
        runner.wait(10)
        assert wait_until(lambda: len(tickets(server_cfg)) >= 1, timeout=20, every=0.5)
        time.sleep(14)
        got = tickets(server_cfg)
        assert [(t["device"], t["problem"]) for t in got] == [("probe-main", "device_down")], [
            t["summary"] for t in got
        ]
        d = devices(server_cfg)
        assert {d[t]["state"] for t in TARGETS} == {"unknown"}
        assert "probe runner probe-main lost" in str(d[TARGETS[0]]["state_reason"])

        # the runner restarts: its ticket resolves, its targets are online again, still one ticket
        runner = run_runner()
        (t,) = tickets(server_cfg)
        assert t["status"] == "resolved"
    finally:
        if runner is not None and runner.poll() is None:
            runner.send_signal(signal.SIGTERM)
            runner.wait(20)
        server.send_signal(signal.SIGTERM)
        server.wait(30)
