from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from campusmon.agent.stopping import reason_for_ctrl_event
from campusmon.agent.wire import ID_RE


def test_identity_command_shows_the_source(tmp_path: Path) -> None:
    cfg = tmp_path / "a.toml"
    cfg.write_text(f'[agent]\nstate_dir = "{tmp_path}"\n', encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "campusmon", "agent", "identity", "--json", "--config", str(cfg)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    ident = json.loads(out.stdout)
    assert ID_RE.match(ident["device_id"])
    assert ident["source"] in ("smbios_uuid", "board_serial", "system_serial", "mac", "hostname")
    assert isinstance(ident["rejected"], dict)
    # the agent saved what it derived, for a start when the hardware cannot be read
    assert json.loads((tmp_path / "identity.json").read_text())["device_id"] == ident["device_id"]
    configured = tmp_path / "b.toml"
    configured.write_text('[agent]\ndevice = "c302-panel"\n', encoding="utf-8")
    out = subprocess.run(
        [sys.executable, "-m", "campusmon", "agent", "identity", "--config", str(configured)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "device id: c302-panel" in out.stdout and "source:    config" in out.stdout


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (2, "console closed"),
        (5, "session end"),
        (6, "os shutdown"),
        (0, "signal SIGINT"),
        (9, "console event 9"),
    ],
)
def test_windows_console_events_become_shutdown_reasons(code: int, reason: str) -> None:
    assert reason_for_ctrl_event(code) == reason
