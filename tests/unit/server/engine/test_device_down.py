"""device_down: a loss joins its cause, forms a group, waits for one, or gets its own ticket; the sweep
opens what waited; a return resolves (by table, no database)."""

from __future__ import annotations

from typing import Any

import pytest

from campusmon.server.config import BuiltinRuleSettings, RulesSettings
from campusmon.server.engine import (
    AbsentDevice,
    Action,
    Back,
    CampusView,
    Cover,
    DeviceFacts,
    Loss,
    OpenTicket,
    RecordHistory,
    ResolveTicket,
    Tick,
    decide,
)
from campusmon.server.topology import Upstream

from .support import SCHOOL, SUNDAY, snapshot

NOW = SCHOOL
LAB = DeviceFacts(room="lab")
BEHIND_SW = DeviceFacts(upstream=Upstream("sw-1", "Gi0/1"))
OWN = "pc-1 went offline without shutting down"


def brief(actions: list[Action]) -> list[tuple[str, ...]]:
    """(kind, device, problem, affected...) of ticket actions; other actions by name."""
    out: list[tuple[str, ...]] = []
    for a in actions:
        if isinstance(a, OpenTicket):
            out.append(("open", a.device, a.problem, *a.affected))
        elif isinstance(a, ResolveTicket):
            out.append(("resolve", a.device, a.problem))
        else:
            out.append((type(a).__name__, a.device))  # type: ignore[union-attr]
    return out


def loss(places: dict[str, DeviceFacts], view: CampusView | None = None, **rules: Any) -> list[Action]:
    snap = snapshot(
        RulesSettings(**rules),
        {("main", d): f for d, f in places.items()},
        campuses={"main": view or CampusView(lost={"pc-1": NOW})},
    )
    return decide(Loss("main", "pc-1", NOW), snap)


@pytest.mark.parametrize(
    ("places", "view", "rules", "expected"),
    [
        # nowhere to group it: its own ticket at once
        ({}, None, {}, [("open", "pc-1", "device_down")]),
        # in a room with company possible: held for a group (the sweep opens it later)
        ({"pc-1": LAB}, None, {}, []),
        ({"pc-1": LAB}, None, {"group_hold_seconds": 0}, [("open", "pc-1", "device_down")]),
        # its switch is lost too: the switch's ticket lists it
        (
            {"pc-1": BEHIND_SW},
            CampusView(lost={"pc-1": NOW, "sw-1": NOW - 5}),
            {},
            [("open", "sw-1", "upstream_down", "pc-1")],
        ),
        # its switch already has a ticket: it joins that one, whatever it is
        (
            {"pc-1": BEHIND_SW},
            CampusView(
                lost={"pc-1": NOW}, covering={"sw-1": Cover("sw-1", "device_down", "", "sw-1 went off")}
            ),
            {},
            [("open", "sw-1", "device_down", "pc-1")],
        ),
        # the third in a room within the window: one room ticket takes all three
        (
            {"pc-1": LAB, "pc-2": LAB, "pc-3": LAB},
            CampusView(lost={"pc-1": NOW, "pc-2": NOW - 20, "pc-3": NOW - 50}),
            {},
            [("open", "", "room_down", "pc-1", "pc-2", "pc-3")],
        ),
        # ... not when the others were lost before the window
        (
            {"pc-1": LAB, "pc-2": LAB, "pc-3": LAB},
            CampusView(lost={"pc-1": NOW, "pc-2": NOW - 61, "pc-3": NOW - 500}),
            {},
            [],
        ),
        # ... nor when another ticket's group holds them already
        (
            {"pc-1": LAB, "pc-2": LAB, "pc-3": LAB},
            CampusView(
                lost={"pc-1": NOW, "pc-2": NOW - 20, "pc-3": NOW - 50},
                covering={d: Cover("sw-9", "upstream_down", "", "x") for d in ("pc-2", "pc-3")},
            ),
            {},
            [],
        ),
        # a room that has its ticket takes a late-comer alone
        (
            {"pc-1": LAB},
            CampusView(lost={"pc-1": NOW}, room_tickets={"lab"}),
            {},
            [("open", "", "room_down", "pc-1")],
        ),
        # three behind one switch (still up): one ticket for the switch
        (
            {d: BEHIND_SW for d in ("pc-1", "pc-2", "pc-3")},
            CampusView(lost={"pc-1": NOW, "pc-2": NOW - 1, "pc-3": NOW - 2}),
            {},
            [("open", "sw-1", "upstream_down", "pc-1", "pc-2", "pc-3")],
        ),
        # fewer than group_min_devices
        (
            {"pc-1": LAB, "pc-2": LAB, "pc-3": LAB},
            CampusView(lost={"pc-1": NOW, "pc-2": NOW - 20, "pc-3": NOW - 50}),
            {"group_min_devices": 4},
            [],
        ),
        ({}, None, {"device_down": False}, []),  # the status rules are off
    ],
)
def test_a_loss(
    places: dict[str, DeviceFacts],
    view: CampusView | None,
    rules: dict[str, Any],
    expected: list[tuple[str, ...]],
) -> None:
    assert brief(loss(places, view, **rules)) == expected


def test_a_group_absorbs_own_tickets_and_says_so() -> None:
    (act,) = loss(
        {"pc-1": LAB, "pc-2": LAB, "pc-3": LAB},
        CampusView(lost={"pc-1": NOW, "pc-2": NOW - 20, "pc-3": NOW - 50}),
    )
    assert isinstance(act, OpenTicket)
    assert act.absorb and act.severity == "critical" and act.room == act.subject == "lab"
    assert act.summary == "3 devices in room lab went offline together"


def test_own_ticket_severity_room_and_record_only() -> None:
    (act,) = loss({})
    assert act == OpenTicket("main", "pc-1", "device_down", OWN, "critical")
    off = RulesSettings(builtin={"device_down": BuiltinRuleSettings(ticket=False)})
    snap = snapshot(off, campuses={"main": CampusView(lost={"pc-1": NOW})})
    assert decide(Loss("main", "pc-1", NOW), snap) == [RecordHistory("main", "pc-1", "device_down", OWN)]


def absent(since: float, state: str = "lost", device: str = "pc-1") -> AbsentDevice:
    return AbsentDevice("main", device, state, since)


@pytest.mark.parametrize(
    ("now", "device", "places", "parts", "expected"),
    [
        (NOW, absent(NOW - 10), {"pc-1": LAB}, {}, [("open", "pc-1", "device_down")]),  # held past
        (NOW, absent(NOW - 2), {"pc-1": LAB}, {}, []),  # still held (group_hold_seconds 5)
        (NOW, absent(NOW - 2), {}, {}, [("open", "pc-1", "device_down")]),  # nothing to wait for
        (NOW, absent(NOW - 10), {}, {"covered": {("main", "pc-1")}}, []),  # a ticket says so already
        (NOW, absent(NOW - 10), {}, {"handled": {("main", "pc-1"): NOW - 5}}, []),  # a person resolved it
        (
            NOW,
            absent(NOW - 10),
            {},
            {"handled": {("main", "pc-1"): NOW - 60}},
            [("open", "pc-1", "device_down")],
        ),
        (SUNDAY, absent(SUNDAY - 10), {}, {}, []),  # not expected on
        (NOW, absent(NOW - 10, "shutdown"), {}, {}, []),  # shut down during the day: no fault
    ],
)
def test_the_sweep(
    now: float,
    device: AbsentDevice,
    places: dict[str, DeviceFacts],
    parts: dict[str, Any],
    expected: list[tuple[str, ...]],
) -> None:
    snap = snapshot(
        places={("main", d): f for d, f in places.items()},
        absent=[device],
        campuses={"main": CampusView(lost={"pc-1": device.since})},
        **parts,
    )
    assert brief(decide(Tick(now), snap)) == expected


def test_the_sweep_attaches_to_a_switch_before_it_groups() -> None:
    snap = snapshot(
        places={("main", d): BEHIND_SW for d in ("pc-1", "pc-2")},
        absent=[absent(NOW - 10, device="pc-1"), absent(NOW - 10, device="pc-2")],
        campuses={"main": CampusView(lost={"pc-1": NOW - 10, "pc-2": NOW - 10, "sw-1": NOW - 11})},
    )
    assert brief(decide(Tick(NOW), snap)) == [
        ("open", "sw-1", "upstream_down", "pc-1"),
        ("open", "sw-1", "upstream_down", "pc-2"),
    ]


def test_back_resolves_its_tickets() -> None:
    acts = decide(Back("main", "pc-1", "pc-1 came back online", NOW), snapshot())
    assert (
        ResolveTicket("main", "pc-1", "device_down", "resolved automatically: pc-1 came back online") in acts
    )
    assert {a.problem for a in acts if isinstance(a, ResolveTicket)} == {
        "device_down",
        "should_be_on",
        "report_stale",
    }
