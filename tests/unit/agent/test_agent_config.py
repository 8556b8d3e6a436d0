from __future__ import annotations

from pathlib import Path

import pytest

from campusmon.agent.config import AgentConfig, load_agent_config
from campusmon.agent.main import parse_run_args, wants_fast_path
from campusmon.config import ConfigError, load

ROOT = Path(__file__).parents[3]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_sample_lists_every_collector_and_matches_the_defaults() -> None:
    from campusmon.agent.collectors import REGISTRY

    sample = load_agent_config(ROOT / "agent" / "sample-agent.toml")
    assert sorted(sample.agent.collectors) == sorted(REGISTRY)
    assert sample.agent.collectors == AgentConfig().agent.collectors
    assert sample.buffer == AgentConfig().buffer
    assert sample.mqtt == AgentConfig().mqtt


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[buffer]\nmax_report = 5\n", "did you mean 'max_reports'?"),
        ("[buffer]\nmax_reports = 5\n", "buffer.max_reports: 5 is out of range 10..10000000"),
        ("[buffer]\nmax_age_hours = 0\n", "buffer.max_age_hours"),
        ("[mqtt]\npassword = 'x'\n", "mqtt.password needs mqtt.username"),
        ("[mqtt]\nreconnect_min_seconds = 10.0\nreconnect_max_seconds = 5.0\n", "need 0.1 <= min <= max"),
        ("[mqtt]\nreconnect_fast_seconds = 0.5\n", "need reconnect_min_seconds <= fast <= 3600"),
        ("[mqtt]\nreconnect_fast_seconds = 5000\n", "reconnect_fast_seconds: 5000.0 is out of range"),
        (
            "[mqtt]\nhost = '10.0.0.5'\nusername = 'pc'\npassword = 'x'\n",
            "mqtt.password would be sent in clear text to 10.0.0.5:1883",
        ),
        ("[mqtt]\nhost = 'broker.school'\nusername = 'pc'\npassword = 'x'\n", "Set mqtt.tls_ca"),
        ("[mqtt]\nroot = 'a/b'\n", "mqtt.root"),
        ("[agent]\ninventory_check_minutes = 0\n", "inventory_check_minutes"),
        ("[agent]\ndevice = 'PC 1'\n", "agent.device"),
    ],
)
def test_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_agent_config(write(tmp_path, text))
    assert message in str(err.value)


@pytest.mark.parametrize(
    "mqtt",
    [
        "host = '127.0.0.1'",  # the one-box default: nothing leaves the machine
        "host = 'localhost'",
        "host = '::1'",
        "host = '127.0.1.1'",
        "host = '10.0.0.5'\ntls_ca = '/etc/campusmon/ca.crt'",
        "host = '10.0.0.5'\nallow_plaintext_password = true",
    ],
)
def test_a_password_goes_over_tls_to_loopback_or_where_explicitly_allowed(tmp_path: Path, mqtt: str) -> None:
    cfg = load_agent_config(write(tmp_path, f"[mqtt]\n{mqtt}\nusername = 'pc'\npassword = 'x'\n"))
    assert cfg.mqtt.password == "x"


def test_the_plaintext_refusal_names_the_way_out(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_agent_config(write(tmp_path, "[mqtt]\nhost = 'b.school'\nusername = 'pc'\npassword = 'x'\n"))
    assert "mqtt.tls_ca" in str(err.value) and "mqtt.allow_plaintext_password = true" in str(err.value)


def test_buffer_path_default_and_env_override(tmp_path: Path) -> None:
    cfg = load(AgentConfig, write(tmp_path, f"[agent]\nstate_dir = '{tmp_path}'\n"), environ={})
    assert cfg.buffer_path == tmp_path / "buffer.sqlite3"
    env = {"CAMPUSMON_BUFFER__PATH": str(tmp_path / "d" / "q.sqlite3"), "CAMPUSMON_BUFFER__MAX_REPORTS": "50"}
    cfg = load(AgentConfig, None, environ=env)
    assert cfg.buffer_path == tmp_path / "d" / "q.sqlite3" and cfg.buffer.max_reports == 50


@pytest.mark.parametrize(
    ("argv", "fast"),
    [
        (["agent", "run"], True),
        (["agent", "run", "--config", "a.toml"], True),
        (["agent", "once", "-c", "a.toml"], True),
        (["agent", "run", "--help"], False),
        (["agent", "identity"], False),
        (["server", "run"], False),
        ([], False),
    ],
)
def test_fast_path_only_for_plain_run_and_once(argv: list[str], fast: bool) -> None:
    assert wants_fast_path(argv) is fast


def test_parse_run_args(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CAMPUSMON_AGENT_CONFIG", raising=False)
    assert parse_run_args(["--config=x.toml"]) == Path("x.toml")
    assert parse_run_args([]) is None
    monkeypatch.setenv("CAMPUSMON_AGENT_CONFIG", "/etc/campusmon/agent.toml")
    assert parse_run_args([]) == Path("/etc/campusmon/agent.toml")
    assert str(parse_run_args(["--verbose"])).startswith("error:")
