"""Every `campusmon` command that takes `--config` honours it: each runs with a non-default config whose
files all live in a temp dir, and nothing is written outside it (a write elsewhere is refused and
recorded by an audit hook). The commands are enumerated from the typer app, so a new command without
a step here fails the coverage test.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from campusmon.cli import app
from tests.support.mosquitto import MosquittoProcess
from tests.support.mqtt import wait_until
from tests.support.write_audit import WRAPPER, guard

FIXTURES = Path(__file__).parent.parent / "fixtures" / "assets"
ROOT = Path(__file__).resolve().parents[2]


def commands_with_config() -> set[str]:
    """'assets rooms add', 'server run', …: every command and group of the app with a --config option."""
    found: set[str] = set()

    def walk(cmd: Any, path: list[str]) -> None:
        if any(p.name == "config" for p in cmd.params):
            found.add(" ".join(path))
        for name, sub in (getattr(cmd, "commands", None) or {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


@dataclass(frozen=True)
class Step:
    """One run: `command` (as enumerated) with argv, where {server}/{agent}/{probe}/{tmp} are filled in."""

    command: str
    argv: tuple[str, ...]
    code: int = 0
    expect: str = ""


S = "{server}"
STEPS: tuple[Step, ...] = (
    Step("server check-config", ("server", "check-config", "--config", S), expect="data in {tmp}/data"),
    Step("assets import", ("assets", "import", str(FIXTURES / "school_utf8.csv"), "--config", S), code=1),
    # the group's --config reaches the subcommand (it used to be ignored, and the default data dir used)
    Step("assets rooms code", ("assets", "rooms", "--config", S, "code", "主校区", "main")),
    Step("assets rooms add", ("assets", "rooms", "--config", S, "add", "主校区/教学楼/303")),
    Step("assets rooms add", ("assets", "rooms", "add", "主校区/教学楼/304", "--config", S)),
    Step("assets rooms campuses", ("assets", "rooms", "--config", S, "campuses"), expect="主校区\tmain"),
    Step("assets rooms", ("assets", "rooms", "--config", S), expect="主校区/教学楼/304"),
    Step("assets list", ("assets", "list", "--json", "--config", S), expect="ZX-2021-0001"),
    Step("assets show", ("assets", "show", "ZX-2021-0001", "--config", S), expect="ZX-2021-0001"),
    Step("assets history", ("assets", "history", "ZX-2021-0001", "--config", S), expect="created"),
    Step("assets set", ("assets", "set", "ZX-2021-0003", "--status", "spare", "--config", S)),
    Step("assets export", ("assets", "export", "--out", "{tmp}/out.xlsx", "--config", S), expect="7 assets"),
    Step("assets ansible-inventory", ("assets", "ansible-inventory", "--config", S), expect="campus_"),
    Step(
        "assets probe-targets",
        ("assets", "probe-targets", "--campus", "main", "--out", "{tmp}/targets.toml", "--config", S),
    ),
    Step("assets labels", ("assets", "labels", "-o", "{tmp}/labels.png", "--config", S), expect="7 labels"),
    Step("assets review", ("assets", "review", "--config", S), expect="nothing to review"),
    Step("assets merge", ("assets", "merge", "ZX-2021-0001", "ZX-2021-0002", "--config", S)),
    Step("assets split", ("assets", "split", "ZX-2021-0001", "--config", S), code=1, expect="no reporting"),
    Step("devices", ("devices", "--json", "--config", S), expect="[]"),
    Step("tickets open", ("tickets", "open", "--room", "302", "--summary", "no picture", "--config", S)),
    Step("tickets list", ("tickets", "list", "--json", "--config", S), expect="no picture"),
    Step("tickets show", ("tickets", "show", "1", "--config", S), expect="no picture"),
    Step("tickets ack", ("tickets", "ack", "1", "--config", S)),
    Step("tickets start", ("tickets", "start", "1", "--config", S)),
    Step("tickets note", ("tickets", "note", "1", "cable replaced", "--config", S)),
    Step("tickets resolve", ("tickets", "resolve", "1", "--config", S)),
    Step("tickets reopen", ("tickets", "reopen", "1", "--config", S)),
    Step("tickets resolve", ("tickets", "resolve", "1", "--config", S)),
    Step("tickets close", ("tickets", "close", "1", "--config", S), expect="closed"),
    # no server has run with this config yet: both name the configured store, and refuse
    Step("metrics storage", ("metrics", "storage", "--config", S), 1, "no metric store at {tmp}/data"),
    Step(
        "metrics series",
        ("metrics", "series", "pc-audit", "cpu_used_ratio", "--config", S),
        1,
        "no metric store at {tmp}/data",
    ),
    Step("server dead-letters", ("server", "dead-letters", "--json", "--config", S), expect="[]"),
    # one server, no district: no worker, no lease
    Step("server workers", ("server", "workers", "--json", "--config", S), expect='"workers": []'),
    Step("inspections due", ("inspections", "due", "--json", "--config", S), expect="classroom_multimedia"),
    Step("inspections overdue", ("inspections", "overdue", "--config", S), expect="0 overdue"),
    Step(
        "inspections start",
        ("inspections", "start", "--room", "教学楼A/203", "--by", "tech", "--json", "--config", S),
        expect="in_progress",
    ),
    Step(
        "inspections record", ("inspections", "record", "1", "picture", "pass", "--by", "tech", "--config", S)
    ),
    Step(
        "inspections finish",
        ("inspections", "finish", "1", "--skip-rest", "--by", "tech", "--config", S),
    ),
    Step("inspections show", ("inspections", "show", "1", "--json", "--config", S), expect="finished"),
    Step(
        "report monthly",
        (
            "report",
            "monthly",
            "--month",
            "2026-11",
            "--format",
            "xlsx",
            "--out",
            "{tmp}/r.xlsx",
            "--config",
            S,
        ),
        expect="2026-11",
    ),
    Step("users add", ("users", "add", "li", "--password", "Secretpass123", "--config", S), expect="added"),
    Step("users passwd", ("users", "passwd", "li", "--password", "Secretpass456", "--config", S)),
    Step("users list", ("users", "list", "--config", S), expect="technician"),
    Step("users token", ("users", "token", "li", "--config", S), expect="cmt_"),
    Step("users disable", ("users", "disable", "li", "--config", S), expect="disabled"),
    # this server runs no broker of its own: read from the given config, the commands refuse (exit 2)
    Step("server credentials list", ("server", "credentials", "list", "--config", S), 2, "does not run"),
    Step(
        "server credentials add-device",
        ("server", "credentials", "add-device", "--campus", "main", "--device", "pc-9", "--config", S),
        2,
        "does not run",
    ),
    Step(
        "server credentials remove-device",
        ("server", "credentials", "remove-device", "--campus", "main", "--device", "pc-9", "--config", S),
        2,
        "does not run",
    ),
    Step(
        "server credentials probe-runner",
        ("server", "credentials", "probe-runner", "--campus", "main", "--config", S),
        2,
        "does not run",
    ),
    Step("agent identity", ("agent", "identity", "--json", "--config", "{agent}"), expect="pc-audit"),
    Step("agent once", ("agent", "once", "--config", "{agent}"), expect="pc-audit"),
    Step("agent inventory", ("agent", "inventory", "--config", "{agent}"), expect="sha256:"),
)
#: long-running: started as processes under the same guard, stopped with SIGTERM once connected
PROCESSES: dict[str, tuple[tuple[str, ...], str]] = {
    "server run": (("server", "run", "--config", S), "connected to broker"),
    "agent run": (("agent", "run", "--config", "{agent}"), "connected to"),
    "probe run": (("probe", "run", "--config", "{probe}"), "connected to"),
}


def test_every_command_with_config_is_exercised() -> None:
    covered = {s.command for s in STEPS} | set(PROCESSES)
    missing = commands_with_config() - covered
    assert not missing, f"add a step for {sorted(missing)} to this test"
    assert covered <= commands_with_config()


def _contains(read: Any, text: str) -> bool:
    return text in read(errors="replace")


def write_configs(tmp: Path, broker_port: int) -> dict[str, str]:
    server, agent, probe = tmp / "server.toml", tmp / "agent.toml", tmp / "probes.toml"
    server.write_text(
        f'[storage]\ndata_dir = "{tmp}/data"\n[broker]\nmanaged = false\nport = {broker_port}\n'
        'client_id = "srv-audit"\n[http]\nport = 0\n',  # any free port: 8080 may be taken here
        encoding="utf-8",
    )
    agent.write_text(
        f'[agent]\ncampus = "main"\ndevice = "pc-audit"\nstate_dir = "{tmp}/agent-state"\n'
        f"[mqtt]\nport = {broker_port}\n",
        encoding="utf-8",
    )
    probe.write_text(
        f'[runner]\ncampus = "main"\nid = "probe-audit"\nstate_dir = "{tmp}/probe-state"\n'
        f"[mqtt]\nport = {broker_port}\n"
        f'[[targets]]\nid = "broker"\nkind = "tcp"\nhost = "127.0.0.1"\ninterval = 1\n'
        f"[targets.tcp]\nport = {broker_port}\n",
        encoding="utf-8",
    )
    return {"server": str(server), "agent": str(agent), "probe": str(probe), "tmp": str(tmp)}


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No CAMPUSMON_* variables, HOME and TMPDIR inside the temp dir, the temp dir as working dir."""
    for name in list(os.environ):
        if name.startswith("CAMPUSMON_"):
            monkeypatch.delenv(name)
    work = tmp_path / "work"
    (work / "home").mkdir(parents=True)
    (work / "tmp").mkdir()
    monkeypatch.setenv("HOME", str(work / "home"))
    monkeypatch.setenv("TMPDIR", str(work / "tmp"))
    monkeypatch.setattr(tempfile, "tempdir", None)
    monkeypatch.chdir(work)
    return work


@pytest.mark.slow
def test_every_command_honours_config_and_writes_only_there(
    sandbox: Path, mosquitto: MosquittoProcess
) -> None:
    values = write_configs(sandbox, mosquitto.port)
    runner = CliRunner()
    for step in STEPS:
        argv = [a.format(**values) for a in step.argv]
        with guard(sandbox) as refused:
            result = runner.invoke(app, argv)
        output = result.output
        assert refused == [], (step.command, refused)
        assert result.exit_code == step.code, (argv, output, result.exception)
        assert step.expect.format(**values) in output, (argv, output)
    # the register really is the configured one
    rows = json.loads(runner.invoke(app, ["assets", "list", "--json", "--config", values["server"]]).output)
    assert {r["status"] for r in rows if r["asset_tag"] == "ZX-2021-0003"} == {"spare"}

    log = sandbox / "audit.log"
    env = dict(os.environ, AUDIT_ROOT=str(sandbox), AUDIT_LOG=str(log), PYTHONPATH=str(ROOT))
    for command, (args, ready) in PROCESSES.items():
        out = sandbox / f"{command.replace(' ', '-')}.out"
        with out.open("wb") as fh:
            proc = subprocess.Popen(
                [sys.executable, "-c", WRAPPER, *[a.format(**values) for a in args]],
                stdin=subprocess.DEVNULL,
                stdout=fh,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=sandbox,
            )
        try:
            log_text = out.read_text
            assert wait_until(partial(_contains, log_text, ready), timeout=30), (
                command,
                log_text(errors="replace")[-2000:],
            )
            time.sleep(1.5)  # a report or a check goes out
        finally:
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(30)
        text = out.read_text(errors="replace")
        assert code == 0, (command, text[-2000:])
        assert "Traceback" not in text, (command, text[-2000:])
        assert not log.exists(), (command, log.read_text())
    assert (sandbox / "data" / "campusmon.db").exists()
    assert any((sandbox / "agent-state").iterdir()) and any((sandbox / "probe-state").iterdir())
