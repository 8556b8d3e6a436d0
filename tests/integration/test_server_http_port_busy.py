"""`campusmon server run` with its console's port taken: one clear line and exit 1, no traceback."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from tests.support.mosquitto import MosquittoProcess


def test_a_taken_console_port_is_a_message_not_a_traceback(
    tmp_path: Path, mosquitto: MosquittoProcess
) -> None:
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    cfg = tmp_path / "server.toml"
    cfg.write_text(
        f'[broker]\nmanaged = false\nport = {mosquitto.port}\n[storage]\ndata_dir = "{tmp_path / "d"}"\n',
        encoding="utf-8",
    )
    try:
        out = subprocess.run(
            [sys.executable, "-m", "campusmon", "server", "run", "--config", str(cfg)],
            env=dict(os.environ, CAMPUSMON_HTTP__PORT=str(port)),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    finally:
        taken.close()
    assert out.returncode == 1, out.stderr[-2000:]
    assert f"cannot listen on 127.0.0.1:{port} for the web console" in out.stderr
    assert "Traceback" not in out.stderr
