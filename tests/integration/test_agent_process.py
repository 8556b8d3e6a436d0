"""The real agent process against a real Mosquitto: what it imports, `shutdown` on SIGTERM, overflow."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from campusmon import contract
from tests.support.mqtt import Recorder

#: the agent never loads the server side, nor the CLI framework or msgspec on its long-running path
SERVER_SIDE = {
    "fastapi",
    "sqlalchemy",
    "pydantic",
    "influxdb_client",
    # what influxdb-client brings along
    "reactivex",
    "urllib3",
    "dateutil",
    "alembic",
    "rich",
    "uvicorn",
    "starlette",
    "matplotlib",
    "openpyxl",
    # the web console
    "jinja2",
    "multipart",
    "python_multipart",
    "babel",
    "argon2",
    "itsdangerous",
    "prometheus_client",
}
HEAVY = {"typer", "click", "msgspec"}
#: OpenSSL (libssl + libcrypto, ~5 MiB resident) is loaded only when TLS is configured (see lean.py)
TLS_ONLY = {"ssl", "_ssl", "hashlib", "_hashlib"}
#: the idna codec's tables: an ASCII broker name does not need them
IDNA = {"stringprep", "unicodedata"}
#: what dataclasses and logging import for rare paths only (see lean.py; ~1.1 MiB)
RARE = {"inspect", "traceback", "ast", "dis", "tokenize", "linecache"}


def write_config(tmp_path: Path, port: int, device: str = "pc-int", **agent: object) -> Path:
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in agent.items())
    cfg = tmp_path / f"{device}.toml"
    cfg.write_text(
        f'[agent]\ncampus = "main"\ndevice = "{device}"\ninterval = 1\nstate_dir = "{tmp_path / "state"}"\n'
        f"{extra}"
        f'[mqtt]\nhost = "127.0.0.1"\nport = {port}\nkeepalive = 5\n'
        "reconnect_min_seconds = 0.5\nreconnect_max_seconds = 2.0\n",
        encoding="utf-8",
    )
    return cfg


def imported_modules(stderr: str) -> set[str]:
    return {m.group(1).split(".")[0] for m in re.finditer(r"^import time:.*\|\s+(\S+)$", stderr, re.M)}


def test_agent_run_imports_nothing_heavy_and_says_shutdown(tmp_path, mosquitto) -> None:
    rec = Recorder(mosquitto.host, mosquitto.port, "campusmon/main/pc-int/#")
    cfg = write_config(tmp_path, mosquitto.port)
    proc = subprocess.Popen(
        [sys.executable, "-X", "importtime", "-m", "campusmon", "agent", "run", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env=dict(os.environ),
        text=True,
    )
    try:
        assert rec.wait_for(lambda ms: sum(t.endswith("/metrics") for t, _, _ in ms) >= 2, timeout=20)
        assert rec.wait_for(
            lambda ms: any(t.endswith("/inventory") and r is False for t, _, r in ms), timeout=5
        )
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err[-2000:]
        modules = imported_modules(err)
        assert "paho" in modules and "psutil" in modules  # the parse works
        unwanted = SERVER_SIDE | HEAVY | TLS_ONLY | IDNA | RARE
        assert not modules & unwanted, modules & unwanted
        assert rec.wait_for(lambda ms: b'"shutdown"' in ms[-1][1], timeout=5)
        t = contract.parse_topic(rec.messages[-1][0])
        status = contract.decode(t, rec.messages[-1][1])
        assert isinstance(status, contract.Status) and status.reason == "signal SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=5)
        rec.close()


def test_agent_once_cli_stays_off_the_server_side(tmp_path) -> None:
    cfg = write_config(tmp_path, 1)
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "campusmon", "agent", "once", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    report = json.loads(out.stdout)
    assert report["device"] == "pc-int" and "cpu" in report["metrics"]
    assert not imported_modules(out.stderr) & (SERVER_SIDE | HEAVY)


def test_overflow_while_offline_is_reported_once_connected(tmp_path, mosquitto) -> None:
    """Past the bound the oldest reports go, and a `buffer_overflow` event says how many."""
    port = mosquitto.port
    mosquitto.stop()
    cfg = write_config(tmp_path, port, device="pc-ovf")
    cfg.write_text(cfg.read_text() + "[buffer]\nmax_reports = 10\n", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(cfg)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=dict(os.environ),
    )
    rec = None
    try:
        from campusmon.agent.buffer import ReportBuffer
        from tests.support.mqtt import wait_until

        db = tmp_path / "state" / "buffer.sqlite3"

        def dropped() -> int:
            if not db.exists():
                return 0
            buf = ReportBuffer(db)
            try:
                return buf.dropped.total
            finally:
                buf.close()

        assert wait_until(lambda: dropped() >= 3, timeout=30)
        mosquitto.start()
        rec = Recorder(mosquitto.host, port, "campusmon/main/pc-ovf/#")
        assert rec.wait_for(lambda ms: any(t.endswith("/events") for t, _, _ in ms), timeout=20)
        topic, raw, _ = next(m for m in rec.messages if m[0].endswith("/events"))
        event = contract.decode(contract.parse_topic(topic), raw)
        assert isinstance(event, contract.Event) and event.kind == "buffer_overflow"
        assert event.data["dropped"] >= 3 and event.data["dropped_full"] == event.data["dropped"]
        # the oldest went, the newest ten arrived, in order
        seqs = [json.loads(r)["seq"] for t, r, _ in rec.messages if t.endswith("/metrics")]
        assert seqs[0] >= 3 and seqs == sorted(seqs)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        if rec is not None:
            rec.close()
