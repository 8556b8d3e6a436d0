"""Every bad config is one clear line naming the problem and exit status 2, never a traceback:
`campusmon server check-config` / `server run`, `campusmon probe run` and the agent's own entry point."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from campusmon.cli import app

Writer = Callable[[Path], Path]


def text(body: str) -> Writer:
    def write(d: Path) -> Path:
        p = d / "c.toml"
        p.write_text(body, encoding="utf-8")
        return p

    return write


def raw(body: bytes) -> Writer:
    def write(d: Path) -> Path:
        p = d / "c.toml"
        p.write_bytes(body)
        return p

    return write


def directory(d: Path) -> Path:
    (d / "conf.d").mkdir()
    return d / "conf.d"


def missing(d: Path) -> Path:
    return d / "nope.toml"


def binary_holidays(d: Path) -> Path:
    (d / "holidays.txt").write_bytes(b"\x7fELF\x02\x01\x01\x00\xff\xfe")
    return text(f'[schedule.profiles.x]\nholiday_files = ["{d / "holidays.txt"}"]\n')(d)


def data_dir_is_a_file(d: Path) -> Path:
    (d / "data").write_text("x", encoding="utf-8")
    return text(f'[storage]\ndata_dir = "{d / "data"}"\n')(d)


BINARY = b"\x7fELF\x02\x01\x01\x00\x00\x00\x00\x00\xff\xfe\x00\x01"
COMMON: list[tuple[str, Writer, str]] = [
    ("binary", raw(BINARY), "not a TOML file (byte "),
    ("not-utf8", raw('x = "校区"\n'.encode("gb18030")), "not a TOML file"),
    ("directory", directory, "cannot read"),
    ("missing", missing, "does not exist"),
    ("not-toml", text("[broker\n"), "not valid TOML"),
]
SERVER: list[tuple[str, Writer, str]] = [
    *COMMON,
    ("session-expiry", text("[broker]\nsession_expiry_seconds = -1\n"), "broker.session_expiry_seconds: -1"),
    ("payload-0", text("[ingest]\nmax_payload_bytes = 0\n"), "ingest.max_payload_bytes: 0 is out of range"),
    ("keepalive-0", text("[broker]\nkeepalive = 0\n"), "broker.keepalive: 0 is out of range 5..3600"),
    (
        "negative-rate",
        text("[notify.channels.a]\nkind = 'webhook'\nurl = 'http://x'\nrate_per_minute = -5\n"),
        "notify.channels.a.rate_per_minute: -5 is out of range 1..10000",
    ),
    ("nan", text("[rules.thresholds.x]\nmetric = 'a'\nabove = nan\n"), "rules.thresholds.x.above: nan"),
    ("huge-int", text("[broker]\nport = 99999999999999999999\n"), "broker.port: 99999999999999999999"),
    ("wrong-type", text("[broker]\nport = '1883'\n"), "broker.port: expected an integer"),
    ("table-for-value", text("[broker.port]\na = 1\n"), "broker.port: expected an integer"),
    ("value-for-table", text("broker = 1\n"), "broker: expected a table"),
    ("binary-holidays", binary_holidays, "is not UTF-8 text"),
    (
        "probe-settings",
        text("[probes]\nenabled = true\nsettings = {runner = 1}\n"),
        "runner: expected a table",
    ),
    ("data-dir-file", data_dir_is_a_file, "is a file, not a directory"),
]


def one_error_line(stderr: str, expected: str) -> None:
    assert "Traceback" not in stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr
    assert expected in lines[0], stderr


@pytest.mark.parametrize(("case", "write", "expected"), SERVER, ids=[c for c, _, _ in SERVER])
def test_server_check_config(tmp_path: Path, case: str, write: Writer, expected: str) -> None:
    result = CliRunner().invoke(app, ["server", "check-config", "--config", str(write(tmp_path))])
    assert result.exit_code == 2, (result.output, result.exception)
    one_error_line(result.stderr, expected)


def test_server_run_refuses_before_starting_anything(tmp_path: Path) -> None:
    cfg = text(f"[broker]\nsession_expiry_seconds = -1\n[storage]\ndata_dir = '{tmp_path / 'd'}'\n")(tmp_path)
    result = CliRunner().invoke(app, ["server", "run", "--config", str(cfg)])
    assert result.exit_code == 2
    one_error_line(result.stderr, "broker.session_expiry_seconds: -1 is out of range 60..4294967295 seconds")
    assert not (tmp_path / "d").exists()


def test_an_environment_override_out_of_range_is_refused(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        app,
        ["server", "check-config", "--config", str(text("")(tmp_path))],
        env={"CAMPUSMON_BROKER__KEEPALIVE": "0"},
    )
    assert result.exit_code == 2
    one_error_line(result.stderr, "broker.keepalive: 0 is out of range")


PROBE: list[tuple[str, Writer, str]] = [
    *COMMON,
    ("concurrency-0", text("[runner]\nconcurrency = 0\n"), "runner.concurrency: 0 is out of range 1..4096"),
    ("jitter", text("[runner]\njitter = -0.1\n"), "runner.jitter: -0.1 is out of range"),
    (
        "target-interval",
        text("[[targets]]\nid = 'sw-1'\nkind = 'icmp'\nhost = '127.0.0.1'\ninterval = 0\n"),
        "targets[0].interval: 0 is out of range 1..86400 seconds",
    ),
    (
        "status-code",
        text("[[targets]]\nid = 'w'\nkind = 'http'\nhttp = {url = 'http://x/', expect_status = [42]}\n"),
        "targets[0].http.expect_status[0]: 42 is out of range 100..599",
    ),
    ("id-newline", text('[runner]\nid = "probe-1\\n"\n'), "runner.id: 'probe-1\\n' does not match"),
]


@pytest.mark.parametrize(("case", "write", "expected"), PROBE, ids=[c for c, _, _ in PROBE])
def test_probe_run(tmp_path: Path, case: str, write: Writer, expected: str) -> None:
    result = CliRunner().invoke(app, ["probe", "run", "--config", str(write(tmp_path))])
    assert result.exit_code == 2, (result.output, result.exception)
    one_error_line(result.stderr, expected)


def state_dir_is_a_file(d: Path) -> Path:
    (d / "state").write_text("x", encoding="utf-8")
    return text(f'[agent]\nstate_dir = "{d / "state"}"\ndevice = "pc-1"\n')(d)


AGENT: list[tuple[str, Writer, str]] = [
    *COMMON,
    ("keepalive-0", text("[mqtt]\nkeepalive = 0\n"), "mqtt.keepalive: 0 is out of range 5..3600 seconds"),
    ("interval", text("[agent]\ninterval = -30\n"), "agent.interval: -30 is out of range 1..86400"),
    ("buffer", text("[buffer]\nmax_reports = 0\n"), "buffer.max_reports: 0 is out of range"),
    ("device-newline", text('[agent]\ndevice = "pc-1\\n"\n'), "agent.device: 'pc-1\\n' does not match"),
    ("campus-newline", text('[agent]\ncampus = "main\\n"\n'), "agent.campus: 'main\\n' does not match"),
    ("state-dir-file", state_dir_is_a_file, "agent.state_dir: "),
]


@pytest.mark.parametrize(("case", "write", "expected"), AGENT, ids=[c for c, _, _ in AGENT])
def test_agent_run(tmp_path: Path, case: str, write: Writer, expected: str) -> None:
    """The agent's lean entry point (no typer), as the service runs it."""
    out = subprocess.run(
        [sys.executable, "-m", "campusmon", "agent", "run", "--config", str(write(tmp_path))],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ),
        check=False,
    )
    assert out.returncode == 2, out.stderr
    one_error_line(out.stderr, expected)
