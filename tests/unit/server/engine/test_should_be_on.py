"""should_be_on: off since before the school day began is a fault; off during the day is not; a room
of them is one ticket (by table, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from campusmon.server.config import BuiltinRuleSettings, RulesSettings
from campusmon.server.engine import AbsentDevice, CampusView, DeviceFacts, OpenTicket, Tick, decide

from .support import SCHEDULE, SCHOOL, SUNDAY, snapshot

DAY_START = SCHEDULE.at("main", "pc-1", SCHOOL).day_start or 0.0
LAB = DeviceFacts(room="lab")


def off(device: str, since: float) -> AbsentDevice:
    return AbsentDevice("main", device, "shutdown", since)


@pytest.mark.parametrize(
    ("now", "absent", "places", "rules", "expected"),
    [
        (SCHOOL, [off("pc-1", DAY_START - 3600)], {}, RulesSettings(), [("pc-1", "should_be_on")]),
        (SCHOOL, [off("pc-1", DAY_START + 60)], {}, RulesSettings(), []),  # switched off during the day
        (SUNDAY, [off("pc-1", SUNDAY - 86400)], {}, RulesSettings(), []),  # no school
        (
            SCHOOL,
            [off("pc-1", DAY_START - 3600)],
            {},
            RulesSettings(builtin={"should_be_on": BuiltinRuleSettings(enabled=False)}),
            [],
        ),
        (
            SCHOOL,
            [off(d, DAY_START - 3600) for d in ("pc-1", "pc-2", "pc-3")],
            {d: LAB for d in ("pc-1", "pc-2", "pc-3")},
            RulesSettings(),
            [("", "room_down")],  # a room of them: one ticket
        ),
        (
            SCHOOL,
            [off(d, DAY_START - 3600) for d in ("pc-1", "pc-2")],
            {d: LAB for d in ("pc-1", "pc-2")},
            RulesSettings(),
            [("pc-1", "should_be_on"), ("pc-2", "should_be_on")],  # two are not a group
        ),
    ],
)
def test_should_be_on(
    now: float,
    absent: list[AbsentDevice],
    places: dict[str, DeviceFacts],
    rules: RulesSettings,
    expected: list[tuple[str, str]],
) -> None:
    snap = snapshot(
        rules, {("main", d): f for d, f in places.items()}, absent=absent, campuses={"main": CampusView()}
    )
    acts = [a for a in decide(Tick(now), snap) if isinstance(a, OpenTicket)]
    assert [(a.device, a.problem) for a in acts] == expected
    for a in acts:
        if a.problem == "room_down":
            assert a.summary == "3 devices in room lab are not on in school hours"
            assert a.affected == ("pc-1", "pc-2", "pc-3")
        else:
            assert a.summary == f"{a.device} is not on in school hours" and a.severity == "warning"


def test_a_lost_device_is_device_downs_not_should_be_ons(**_: Any) -> None:
    snap = snapshot(
        absent=[AbsentDevice("main", "pc-1", "lost", DAY_START - 3600)], campuses={"main": CampusView()}
    )
    assert [a.problem for a in decide(Tick(SCHOOL), snap) if isinstance(a, OpenTicket)] == ["device_down"]
