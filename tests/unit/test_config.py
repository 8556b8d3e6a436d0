from __future__ import annotations

from pathlib import Path

import pytest

from campusmon.agent.config import AgentConfig, load_agent_config
from campusmon.config import ConfigError, load
from campusmon.server.config import ServerConfig, load_server_config

ROOT = Path(__file__).parents[2]


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(text, encoding="utf-8")
    return p


def test_sample_configs_load() -> None:
    assert load_agent_config(ROOT / "agent" / "sample-agent.toml").agent.interval == 30
    cfg = load_server_config(ROOT / "server" / "sample-server.toml")
    assert cfg.rules.thresholds["disk_full"].above == 90.0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[agent]\nintervall = 5\n", "unknown key 'agent.intervall' (did you mean 'interval'?)"),
        ("[mqtt]\nhots = 'x'\n", "did you mean 'host'?"),
        ("[agnet]\n", "did you mean 'agent'?"),
        ("[agent]\ninterval = 'fast'\n", "agent.interval: expected an integer"),
        ("[agent]\ncampus = 'Main Campus'\n", "does not match"),
        ("[agent]\ncollectors = ['cpu', 'mem']\n", "unknown collector 'mem'"),
        ("[agent]\nlog_level = 'verbose'\n", "is not one of"),
        ("[mqtt]\nport = 70000\n", "mqtt.port: 70000 is out of range 1..65535"),
        ("[mqtt]\ntls_cert = '/a'\n", "go together"),
        ("[agent\n", "not valid TOML"),
    ],
)
def test_agent_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        load_agent_config(write(tmp_path, text))
    assert message in str(err.value)


def test_env_overrides(tmp_path: Path) -> None:
    env = {"CAMPUSMON_AGENT__INTERVAL": "10", "CAMPUSMON_MQTT__HOST": "broker.school", "HOME": "/x"}
    cfg = load(AgentConfig, write(tmp_path, "[agent]\ninterval = 5\n"), environ=env)
    assert cfg.agent.interval == 10
    assert cfg.mqtt.host == "broker.school"
    with pytest.raises(ConfigError, match="did you mean 'interval'"):
        load(AgentConfig, None, environ={"CAMPUSMON_AGENT__INTERVL": "3"})
    with pytest.raises(ConfigError, match="did you mean 'agent'"):
        load(AgentConfig, None, environ={"CAMPUSMON_AGNET__INTERVAL": "3"})
    # the server's sections in a shared environment do not concern the agent
    assert load(AgentConfig, None, environ={"CAMPUSMON_BROKER__PORT": "1884"}).mqtt.port == 1883


def test_server_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="recover_below"):
        load_server_config(
            write(
                tmp_path,
                """
[rules.thresholds.disk_full]
metric = "disk_used_percent"
above = 80.0
recover_below = 90.0
""",
            )
        )
    with pytest.raises(ConfigError, match="did you mean 'for_seconds'"):
        load_server_config(
            write(
                tmp_path,
                """
[rules.thresholds.disk_full]
metric = "disk_used_percent"
above = 90.0
recover_below = 80.0
for_second = 3
""",
            )
        )
    with pytest.raises(ConfigError, match="managed broker listens on 127.0.0.1"):
        load(ServerConfig, write(tmp_path, "[broker]\nhost = 'mqtt.school.cn'\n"))
    with pytest.raises(ConfigError, match="missing key"):
        load_server_config(write(tmp_path, "[rules.thresholds.x]\nabove = 1.0\nrecover_below = 0.5\n"))


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("ts_max_age_days", 0.5),
        ("ts_max_age_days", 401),
        ("ts_max_ahead_seconds", -1),
        ("ts_max_ahead_seconds", 8 * 86400),
    ],
)
def test_ingest_ts_window_has_ranges(tmp_path: Path, key: str, value: float) -> None:
    from campusmon.server.config import load_server_config

    path = tmp_path / "server.toml"
    path.write_text(f"[ingest]\n{key} = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=f"ingest.{key}: .* is out of range"):
        load_server_config(path)
    path.write_text(f"[ingest]\n{key} = 2\n", encoding="utf-8")
    assert getattr(load_server_config(path).ingest, key) == 2
