"""threshold: `for` and hysteresis, below rules, subjects, scopes, records, restarts (by table)."""

from __future__ import annotations

import pytest

from campusmon.server.config import RuleScope, ThresholdRuleSettings
from campusmon.server.engine import (
    DeviceFacts,
    OpenTicket,
    RecordHistory,
    ResolveTicket,
    ThresholdState,
    decide,
)

from .support import only, report, run, snapshot

DISK = ThresholdRuleSettings(
    metric="disk_used_percent", above=90, recover_below=85, for_seconds=120, subject_label="mount"
)


def disk(value: float, mount: str = "/") -> dict[str, object]:
    return {"disk": [{"mount": mount, "disk_used_percent": value}]}


def verdicts(rule: ThresholdRuleSettings, values: list[float], step: float = 60.0) -> list[str]:
    snap = snapshot(only(disk_full=rule))
    acts = run((report("pc-1", i * step, disk(v)) for i, v in enumerate(values)), snap)
    return [f"{i}:{'open' if isinstance(a, OpenTicket) else 'resolve'}" for i, a in acts]


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
    assert verdicts(DISK, values) == expected


def test_below_rule_and_subjects() -> None:
    rule = ThresholdRuleSettings(
        metric="net_link_up", below=1, recover_above=0.5, for_seconds=0, subject_label="nic"
    )
    snap = snapshot(only(link_down=rule))
    nics = {"network": [{"nic": "eth0", "net_link_up": 0}, {"nic": "eth1", "net_link_up": 1}]}
    acts = run(
        [report("sw", 0, nics), report("sw", 10, {"network": [{"nic": "eth0", "net_link_up": 1}]})], snap
    )
    assert [(i, type(a).__name__, a.subject) for i, a in acts] == [  # type: ignore[union-attr]
        (0, "OpenTicket", "eth0"),
        (1, "ResolveTicket", "eth0"),
    ]


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
        (RuleScope(devices=["main/pc-1"]), DeviceFacts(), "pc-1", True),
        (RuleScope(devices=["east/pc-1"]), DeviceFacts(), "pc-1", False),
    ],
)
def test_scope(scope: RuleScope, facts: DeviceFacts, device: str, applies: bool) -> None:
    rule = ThresholdRuleSettings(metric="disk_used_percent", above=90, for_seconds=0, scope=scope)
    snap = snapshot(only(disk_full=rule), {("main", device): facts})
    acts = [a for a in decide(report(device, 0, disk(95)), snap) if isinstance(a, OpenTicket)]
    assert bool(acts) is applies


def test_ticket_false_records_instead() -> None:
    rule = ThresholdRuleSettings(metric="disk_used_percent", above=90, for_seconds=0, ticket=False)
    ((_, act),) = run([report("pc", 0, disk(95))], snapshot(only(disk_full=rule)))
    assert isinstance(act, RecordHistory) and act.problem == "disk_full"


def test_the_ticket_names_room_severity_and_numbers() -> None:
    rule = ThresholdRuleSettings(metric="disk_used_percent", above=90, for_seconds=0, severity="critical")
    snap = snapshot(only(disk_full=rule), {("main", "pc-1"): DeviceFacts(room="lab301")})
    ((_, act),) = run([report("pc-1", 0, disk(95))], snap)
    assert act == OpenTicket(
        "main", "pc-1", "disk_full", "pc-1: disk_used_percent is 95 (> 90 for 0 s)", "critical", room="lab301"
    )


@pytest.mark.parametrize(
    ("open_problems", "remembered", "expected"),
    [
        (frozenset(), None, []),  # nothing raised before: a good value says nothing
        (frozenset({("disk_full", "")}), None, ["resolve"]),  # raised before a restart: resolved now
        (frozenset({("disk_full", "")}), ThresholdState(None, False), []),  # memory wins over the start
    ],
)
def test_a_restart_keeps_what_was_raised(
    open_problems: frozenset[tuple[str, str]], remembered: ThresholdState | None, expected: list[str]
) -> None:
    rule = ThresholdRuleSettings(metric="disk_used_percent", above=90, recover_below=85, for_seconds=0)
    memory = {} if remembered is None else {("disk_full", "main", "pc", ""): remembered}
    snap = snapshot(only(disk_full=rule), open_problems=open_problems, thresholds=memory)
    acts = run([report("pc", 0, disk(50))], snap)
    assert ["resolve" if isinstance(a, ResolveTicket) else "open" for _, a in acts] == expected


def test_a_replay_raises_nothing() -> None:
    rule = ThresholdRuleSettings(metric="disk_used_percent", above=90, for_seconds=0)
    assert decide(report("pc", 0, disk(99), replay=True), snapshot(only(disk_full=rule))) == []


@pytest.mark.parametrize("value", [True, "95", None])
def test_values_that_are_not_numbers_are_ignored(value: object) -> None:
    rule = ThresholdRuleSettings(metric="disk_used_percent", above=0.5, for_seconds=0)
    assert (
        decide(report("pc", 0, {"disk": {"disk_used_percent": value}}), snapshot(only(disk_full=rule))) == []
    )


def test_rules_that_are_kinds_of_their_own_are_left_to_them() -> None:
    snap = snapshot(only("port_down"))
    acts = decide(report("sw", 0, {"ports": [{"port": "Gi0/1", "port_fault": 1}]}), snap)
    assert [a.problem for a in acts if isinstance(a, OpenTicket)] == ["port_down"]  # once, not twice
