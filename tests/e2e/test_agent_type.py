"""A panel's agent (a real `campusmon agent run` process) over a real Mosquitto: the server registers
the new asset as `panel`, not `pc`; `type = "auto"` finds a panel by its touch screen."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campusmon.agent.inventory import device_type
from campusmon.cli import app
from tests.support.mqtt import wait_until
from tests.unit.agent.fakes import FIXTURES


def assets(data: Path) -> list[dict[str, object]]:
    result = CliRunner().invoke(app, ["assets", "list", "--json"], env={"CAMPUSMON_DATA_DIR": str(data)})
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.output)
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("configured,expected", [("panel", "panel"), ("auto", "pc")])
def test_agent_type_reaches_the_register(
    tmp_path: Path, server_factory, mosquitto, configured: str, expected: str
) -> None:
    server_factory()
    cfg = tmp_path / "agent.toml"
    cfg.write_text(
        f'[agent]\ncampus = "main"\ndevice = "c302-panel"\ntype = "{configured}"\ninterval = 5\n'
        f'state_dir = "{tmp_path / "agent"}"\n[mqtt]\nport = {mosquitto.port}\n',
        encoding="utf-8",
    )
    log = tmp_path / "agent.log"
    with log.open("wb") as fh:
        agent = subprocess.Popen(
            [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(cfg)],
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=fh,
            env=dict(os.environ),
        )
    try:
        data = tmp_path / "server"
        assert wait_until(lambda: len(assets(data)) == 1, timeout=60), log.read_text(errors="replace")
        (asset,) = assets(data)
        # this test machine has no touch screen: auto leaves it to the server, which says pc
        assert (asset["device"], asset["type"]) == ("main/c302-panel", expected)
    finally:
        agent.send_signal(signal.SIGTERM)
        agent.wait(30)


@pytest.mark.parametrize(
    "configured,root,expected",
    [
        ("auto", FIXTURES / "linux-panel", "panel"),  # a touch screen (INPUT_PROP_DIRECT) is attached
        ("auto", FIXTURES / "nothing-here", None),
        ("server", FIXTURES / "linux-panel", "server"),
        ("pc", FIXTURES / "linux-panel", "pc"),
    ],
)
def test_device_type_detection(configured: str, root: Path, expected: str | None) -> None:
    assert device_type(configured, None, platform="linux", root=root) == expected
