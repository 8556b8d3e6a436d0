"""The first start of `campusmon server run` on an empty data dir while CLI commands run at the same
moment: the schema is created once (under a lock), no process prints a traceback, the server keeps
running, and every CLI command answers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from functools import partial
from pathlib import Path

import pytest

from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import wait_until

ROUNDS = 4
CLI = (
    ("devices", "--json"),
    ("tickets", "list", "--json"),
    ("assets", "list", "--json"),
    ("assets", "rooms"),
)


def _logged(log: Path, text: str) -> bool:
    return text in log.read_text(errors="replace")


@pytest.mark.slow
def test_server_first_start_with_concurrent_cli_commands(tmp_path: Path, mosquitto: MosquittoProcess) -> None:
    env = dict(os.environ)
    for name in [n for n in env if n.startswith("CAMPUSMON_")]:
        del env[name]
    for round_ in range(ROUNDS):  # a fresh, empty data dir each round
        work = tmp_path / f"round{round_}"
        work.mkdir()
        cfg = work / "server.toml"
        cfg.write_text(
            f'[storage]\ndata_dir = "{work / "data"}"\n[broker]\nmanaged = false\nport = {mosquitto.port}\n'
            f'client_id = "srv-race-{round_}"\n',
            encoding="utf-8",
        )
        log = work / "server.log"
        with log.open("wb") as fh:
            server = subprocess.Popen(
                [sys.executable, "-m", "campusmon", "server", "run", "--config", str(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=fh,
                env=env,
            )
        clis = [
            subprocess.Popen(
                [sys.executable, "-m", "campusmon", *args, "--config", str(cfg)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
            )
            for args in CLI
        ]
        try:
            for args, proc in zip(CLI, clis, strict=True):
                out, err = proc.communicate(timeout=120)
                assert "Traceback" not in err, (round_, args, err)
                assert proc.returncode == 0, (round_, args, err)
                if "--json" in args:
                    assert json.loads(out) == []
            started = partial(_logged, log, "connected to broker")
            assert wait_until(started, timeout=60)
            assert server.poll() is None, log.read_text(errors="replace")[-3000:]
        finally:
            server.send_signal(signal.SIGTERM)
            code = server.wait(30)
        text = log.read_text(errors="replace")
        assert code == 0, text[-3000:]
        assert "Traceback" not in text and "already exists" not in text, text[-3000:]
