"""Without Ansible, the server's data dir, the agent's state dir and the probe runner's state dir are
0700 and their databases, queue and state files 0600; files left readable by an older version are
made private at start, with a log line."""

from __future__ import annotations

import logging
import os
import signal
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from campusmon.private_files import private_dir, private_file
from tests.integration.test_agent_process import write_config
from tests.support.mqtt import Recorder


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def others_can_read(path: Path) -> list[str]:
    """Every path under `path` (and itself) that is open to group or others."""
    found = [path, *path.rglob("*")]
    return [f"{p} {mode(p):03o}" for p in found if mode(p) & 0o077]


@pytest.fixture
def loose_umask() -> Iterator[None]:
    """The usual 022: what is private is so because we made it so."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.usefixtures("loose_umask")
def test_a_new_server_data_dir_is_private(tmp_path: Path, server_factory) -> None:
    server_factory()
    data = tmp_path / "server"
    assert mode(data) == 0o700
    for name in ("campusmon.db", "metrics.db"):
        assert mode(data / name) == 0o600
    assert (data / "metrics.db-wal").exists()
    assert not others_can_read(data)


@pytest.mark.usefixtures("loose_umask")
def test_an_old_open_data_dir_is_made_private_at_start(
    tmp_path: Path, server_factory, caplog: pytest.LogCaptureFixture
) -> None:
    srv = server_factory()
    srv.stop()
    data = tmp_path / "server"
    data.chmod(0o755)
    for p in data.glob("*.db*"):
        p.chmod(0o644)
    assert others_can_read(data)
    with caplog.at_level(logging.WARNING, logger="campusmon.private_files"):
        server_factory()
    assert not others_can_read(data)
    assert any("was open to other users (mode 755): now 700" in r.getMessage() for r in caplog.records)
    assert any("campusmon.db was open to other users (mode 644)" in r.getMessage() for r in caplog.records)


@pytest.mark.usefixtures("loose_umask")
def test_the_agent_state_dir_and_buffer_are_private(tmp_path: Path, mosquitto) -> None:
    state = tmp_path / "state"
    state.mkdir(mode=0o755)
    state.chmod(0o755)
    (state / "buffer.sqlite3").touch()
    (state / "buffer.sqlite3").chmod(0o644)  # from an older version
    cfg = write_config(tmp_path, mosquitto.port, device="pc-priv")
    rec = Recorder(mosquitto.host, mosquitto.port, "campusmon/main/pc-priv/metrics")
    log = tmp_path / "agent.log"
    with log.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(cfg)],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=dict(os.environ),
        )
    try:
        assert rec.wait_for(lambda ms: len(ms) >= 2, timeout=20), log.read_text()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(15)
        rec.close()
    assert mode(state) == 0o700
    assert mode(state / "buffer.sqlite3") == 0o600
    assert not others_can_read(state)
    text = log.read_text(encoding="utf-8")
    assert "buffer.sqlite3 was open to other users (mode 644): now 600" in text
    assert "was open to other users (mode 755): now 700" in text


@pytest.mark.usefixtures("loose_umask")
def test_the_probe_state_dir_and_sequence_files_are_private(tmp_path: Path) -> None:
    from campusmon.probes.config import build_probe_config
    from campusmon.probes.runner import ProbeRunner

    cfg = build_probe_config(
        {
            "runner": {"state_dir": str(tmp_path / "probes")},
            "targets": [{"id": "sw-1", "kind": "tcp", "host": "127.0.0.1", "tcp": {"port": 9}}],
        }
    )
    runner = ProbeRunner(cfg)
    runner.targets["sw-1"].seq.take()
    assert mode(tmp_path / "probes") == 0o700
    assert mode(tmp_path / "probes" / "sw-1.seq") == 0o600


@pytest.mark.usefixtures("loose_umask")
def test_helpers_refuse_a_file_for_a_dir_and_leave_symlinked_targets_alone(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x", encoding="utf-8")
    with pytest.raises(NotADirectoryError, match="is a file, not a directory"):
        private_dir(tmp_path / "f")
    other = tmp_path / "someone-elses"
    other.write_text("x", encoding="utf-8")
    other.chmod(0o644)
    (tmp_path / "link.db").symlink_to(other)
    with pytest.raises(OSError):  # O_NOFOLLOW: never opens (or chmods) through a planted link
        private_file(tmp_path / "link.db")
    assert mode(other) == 0o644
