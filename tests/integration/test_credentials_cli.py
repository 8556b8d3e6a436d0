"""`campusmon server credentials …`: what a technician runs to give a device or a probe runner its
own user on the managed broker (the broker itself is checked in test_broker_security.py)."""

from __future__ import annotations

import base64
import json
import os
import stat
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campusmon.agent.config import AgentConfig
from campusmon.cli import app
from campusmon.config import build
from campusmon.server.broker_auth import mosquitto_hash


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {"CAMPUSMON_STORAGE__DATA_DIR": str(tmp_path / "data"), "CAMPUSMON_BROKER__PORT": "18830"}


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["server", "credentials", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_add_device_prints_a_working_agent_config_once(env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = run(env, "add-device", "--campus", "main", "--device", "pc-1")
    assert code == 0, out
    cfg = build(AgentConfig, tomllib.loads(out))  # the printed lines are a valid agent config
    assert (cfg.agent.campus, cfg.agent.device, cfg.mqtt.port) == ("main", "pc-1", 18830)
    assert cfg.mqtt.username == "main.pc-1" and cfg.mqtt.password
    broker = tmp_path / "data" / "broker"
    assert stat.S_IMODE(broker.stat().st_mode) == 0o700
    for name in ("users.json", "passwd", "acl"):
        assert stat.S_IMODE((broker / name).stat().st_mode) == 0o600
        assert cfg.mqtt.password not in (broker / name).read_text()
    assert "user main.pc-1\ntopic write campusmon/main/pc-1/+" in (broker / "acl").read_text()
    line = next(ln for ln in (broker / "passwd").read_text().splitlines() if ln.startswith("main.pc-1:"))
    salt = base64.b64decode(line.split("$")[3])
    assert line == f"main.pc-1:{mosquitto_hash(cfg.mqtt.password, salt=salt)}"

    code, _, err = run(env, "add-device", "--campus", "main", "--device", "pc-1")
    assert code == 1 and "already has credentials; add --replace" in err
    code, again, _ = run(env, "add-device", "--campus", "main", "--device", "pc-1", "--replace")
    assert code == 0 and tomllib.loads(again)["mqtt"]["password"] != cfg.mqtt.password


def test_json_out_file_list_and_remove(env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = run(env, "add-device", "--campus", "east", "--device", "lab-01", "--json")
    assert code == 0 and json.loads(out)["username"] == "east.lab-01"
    target = tmp_path / "agent.toml"
    code, out, _ = run(env, "add-device", "--campus", "east", "--device", "lab-02", "--out", str(target))
    assert code == 0 and "mode 0600" in out
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert tomllib.loads(target.read_text())["mqtt"]["username"] == "east.lab-02"
    # --out never overwrites and never follows a symlink
    code, _, err = run(env, "add-device", "--campus", "east", "--device", "lab-03", "--out", str(target))
    assert code == 1 and "exists" in err
    link = tmp_path / "link.toml"
    os.symlink(tmp_path / "elsewhere.toml", link)
    code, _, err = run(env, "add-device", "--campus", "east", "--device", "lab-04", "--out", str(link))
    assert code == 1 and not (tmp_path / "elsewhere.toml").exists()

    code, out, _ = run(env, "list", "--json")
    listed = json.loads(out)
    assert [d["username"] for d in listed["devices"]] == [f"east.lab-0{n}" for n in (1, 2, 3, 4)]
    assert "password" not in out and "hash" not in out
    code, out, _ = run(env, "remove-device", "--campus", "east", "--device", "lab-01")
    assert code == 0
    code, _, err = run(env, "remove-device", "--campus", "east", "--device", "lab-01")
    assert code == 1 and "has no credentials" in err
    code, out, _ = run(env, "list")
    assert "east.lab-01" not in out and "4 devices" not in out and "3 devices" in out


def test_probe_runner_lines_and_bad_input(env: dict[str, str], tmp_path: Path) -> None:
    code, out, _ = run(env, "probe-runner", "--campus", "main")
    assert code == 0
    data = tomllib.loads(out)
    assert data["mqtt"]["username"] == "probe-main" and data["runner"]["campus"] == "main"
    code, again, _ = run(env, "probe-runner", "--campus", "main")
    assert tomllib.loads(again)["mqtt"]["password"] == data["mqtt"]["password"]  # stable: a service user
    for campus, device in (("Main", "pc-1"), ("main", "pc 1"), ("main", "pc-1\ntopic readwrite #")):
        code, _, err = run(env, "add-device", "--campus", campus, "--device", device)
        assert code == 1 and "does not match" in err, (campus, device)
    code, _, err = run(dict(env, CAMPUSMON_BROKER__MANAGED="false"), "list")
    assert code == 2 and "does not run the broker" in err
    (tmp_path / "a-file").write_text("")
    code, _, err = run(
        dict(env, CAMPUSMON_STORAGE__DATA_DIR=str(tmp_path / "a-file")), "probe-runner", "--campus", "main"
    )
    assert code == 2 and "storage.data_dir" in err and "is a file" in err  # refused as a bad config
