"""Pure rule logic: thresholds with `for` and hysteresis, scopes, inventory diffs, rule config."""

from __future__ import annotations

from pathlib import Path

import pytest

from campusmon.config import ConfigError
from campusmon.server.config import RuleScope, ThresholdRuleSettings, load_server_config
from campusmon.server.rules import DeviceFacts, ThresholdEvaluator, peripheral_subject


def disk(value: float, mount: str = "/") -> dict[str, object]:
    return {"disk": [{"mount": mount, "disk_used_percent": value}]}


def run(rule: ThresholdRuleSettings, values: list[float], step: float = 60.0) -> list[str]:
    ev = ThresholdEvaluator({"disk_full": rule})
    out = []
    for i, v in enumerate(values):
        for a in ev.evaluate("main", "pc-1", i * step, disk(v)):  # type: ignore[arg-type]
            out.append(f"{i}:{a.verdict}")
    return out


DISK = ThresholdRuleSettings(
    metric="disk_used_percent", above=90, recover_below=85, for_seconds=120, subject_label="mount"
)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([91, 91], []),  # not yet for 120 s
        ([91, 91, 91], ["2:open"]),
        ([91, 89, 91, 91], []),  # dipped below `above` before the `for` elapsed: the clock restarts
        ([91, 91, 91, 88, 92, 87, 93, 89], ["2:open"]),  # oscillating in the band: still one
        ([91, 91, 91, 88, 84], ["2:open", "4:resolve"]),  # below recovery: resolved
        ([91, 91, 91, 84, 91, 91, 91], ["2:open", "3:resolve", "6:open"]),
    ],
)
def test_threshold_for_and_hysteresis(values: list[float], expected: list[str]) -> None:
    assert run(DISK, values) == expected


def test_below_rule_and_subjects() -> None:
    rule = ThresholdRuleSettings(
        metric="net_link_up", below=1, recover_above=0.5, for_seconds=0, subject_label="nic"
    )
    ev = ThresholdEvaluator({"link_down": rule})
    acts = ev.evaluate(
        "main", "sw", 0, {"network": [{"nic": "eth0", "net_link_up": 0}, {"nic": "eth1", "net_link_up": 1}]}
    )
    assert [(a.verdict, a.subject) for a in acts] == [("open", "eth0")]
    acts = ev.evaluate("main", "sw", 10, {"network": [{"nic": "eth0", "net_link_up": 1}]})
    assert [(a.verdict, a.subject) for a in acts] == [("resolve", "eth0")]


@pytest.mark.parametrize(
    ("scope", "facts", "device", "applies"),
    [
        (RuleScope(), DeviceFacts(), "pc-1", True),
        (RuleScope(rooms=["lab301"]), DeviceFacts(room="lab301"), "pc-1", True),
        (RuleScope(rooms=["main/lab301"]), DeviceFacts(room="lab301"), "pc-1", True),
        (RuleScope(rooms=["lab301"]), DeviceFacts(room="c302"), "pc-1", False),
        (RuleScope(rooms=["lab301"]), DeviceFacts(), "pc-1", False),  # unknown room: not in scope
        (RuleScope(device_types=["server"]), DeviceFacts(device_type="pc"), "pc-1", False),
        (RuleScope(buildings=["north"]), DeviceFacts(building="north"), "pc-1", True),
        (RuleScope(campuses=["east"]), DeviceFacts(), "pc-1", False),
        (RuleScope(devices=["pc-1"]), DeviceFacts(), "pc-1", True),
    ],
)
def test_scope(scope: RuleScope, facts: DeviceFacts, device: str, applies: bool) -> None:
    rule = ThresholdRuleSettings(metric="disk_used_percent", above=90, for_seconds=0, scope=scope)
    acts = ThresholdEvaluator({"disk_full": rule}).evaluate("main", device, 0, disk(95), facts=facts)  # type: ignore[arg-type]
    assert bool(acts) is applies


def test_ticket_false_marks_the_action() -> None:
    rule = ThresholdRuleSettings(metric="disk_used_percent", above=90, for_seconds=0, ticket=False)
    (act,) = ThresholdEvaluator({"disk_full": rule}).evaluate("main", "pc", 0, disk(95))  # type: ignore[arg-type]
    assert act.ticket is False


def test_peripheral_subject() -> None:
    assert peripheral_subject("document camera unplugged", {"name": "document camera"}) == "document camera"
    assert peripheral_subject("x", {"usb_id": "0c45:6366"}) == "0c45:6366"
    assert peripheral_subject("touch screen gone", {}) == "touch screen gone"


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
