"""Rule and notification config: errors with hints, shipped defaults, every kind named.

The conditions themselves are tested by table in tests/unit/server/engine/."""

from __future__ import annotations

from pathlib import Path

import pytest

from campusmon.config import ConfigError
from campusmon.server.config import load_server_config


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "server.toml"
    p.write_text(text, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rules.thresholds.disk_full]\nmetric='d'\nabove=1\nbelow=2\n", "exactly one of"),
        ("[rules.thresholds.x]\nmetric='d'\nbelow=5\nrecover_above=4\n", "recover_above must not be below"),
        (
            "[rules.thresholds.x]\nmetric='d'\nabove=5\n[rules.thresholds.x.scope]\nroom=['a']\n",
            "did you mean 'rooms'",
        ),
        ("[rules.builtin.device_dwn]\nseverity='critical'\n", "did you mean 'device_down'"),
        ("[rules.builtin.device_down]\nseverity='urgent'\n", "not one of"),
        ("[rules.thresholds.device_down]\nmetric='d'\nabove=5\n", "built-in rule name"),
        ("[rules]\nflapping_count = 1\n", "flapping_count"),
        ("[notify.channels.ops]\nkind='wecom'\nurl='ftp://x'\n", "http"),
        ("[notify.channels.ops]\nkind='email'\nsmtp_host='h'\n", "sender"),
        ("[notify.channels.ops]\nkind='webhok'\nurl='http://x'\n", "did you mean 'webhook'"),
        (
            "[[notify.routes]]\nchannels=['opz']\n[notify.channels.ops]\nkind='webhook'\nurl='http://x'\n",
            "did you mean 'ops'",
        ),
        ("[topology.main.upstreams.pc-1]\nswitch='sw'\nprt='1'\n", "did you mean 'port'"),
    ],
)
def test_rule_and_notify_config_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_server_config(write(tmp_path, text))


def test_sample_config_and_defaults(tmp_path: Path) -> None:
    cfg = load_server_config(Path(__file__).parents[3] / "server" / "sample-server.toml")
    assert set(cfg.rules.builtin) >= {
        "device_down",
        "should_be_on",
        "report_stale",
        "peripheral_missing",
        "inventory_changed",
    }
    assert cfg.rules.thresholds["disk_full"].recover_below == 85
    assert cfg.schedule.timezone == "Asia/Shanghai"
    only = load_server_config(write(tmp_path, "[rules.builtin.report_stale]\nenabled = false\n"))
    assert not only.rules.builtin["report_stale"].enabled and only.rules.builtin["device_down"].enabled


def test_every_channel_kind_and_builtin_rule_is_registered() -> None:
    import typing

    from campusmon.server.config import BUILTIN_RULES, ChannelSettings, default_builtin_rules
    from campusmon.server.notify import SENDERS
    from campusmon.server.notify.templates import PROBLEMS

    kinds = typing.get_args(typing.get_type_hints(ChannelSettings)["kind"])
    assert set(kinds) == set(SENDERS)
    assert set(default_builtin_rules()) == set(BUILTIN_RULES)
    for lang in ("zh-CN", "en"):  # every problem the server can open has a name in both languages
        assert set(BUILTIN_RULES) | {
            "disk_full",
            "memory_saturated",
            "cpu_saturated",
            "upstream_down",
            "room_down",
        } <= set(PROBLEMS[lang])
