"""link_down: devices of several rooms still away after the broker returned are one campus ticket;
fewer, or one room, go on as device losses (by table)."""

from __future__ import annotations

import pytest

from campusmon.server.engine import (
    CampusLinkAway,
    CampusLinkBack,
    CampusView,
    DeviceFacts,
    LinkSettled,
    OpenTicket,
    ResolveTicket,
    decide,
)

from .support import SCHOOL, snapshot


def settle(rooms: dict[str, str | None], min_devices: int = 3) -> list[tuple[str, str, tuple[str, ...]]]:
    from campusmon.server.config import RulesSettings

    places = {("main", d): DeviceFacts(room=r) for d, r in rooms.items()}
    view = CampusView(lost=dict.fromkeys(rooms, SCHOOL - 120))
    snap = snapshot(RulesSettings(group_min_devices=min_devices), places, campuses={"main": view})
    acts = decide(LinkSettled(SCHOOL, tuple(("main", d) for d in rooms)), snap)
    return [(a.device, a.problem, a.affected) for a in acts if isinstance(a, OpenTicket)]


@pytest.mark.parametrize(
    ("rooms", "expected"),
    [
        (
            {"pc-1": "a", "pc-2": "b", "pc-3": "c"},
            [("", "link_down", ("pc-1", "pc-2", "pc-3"))],
        ),
        (
            {"pc-1": None, "pc-2": None, "pc-3": None},
            [("", "link_down", ("pc-1", "pc-2", "pc-3"))],
        ),  # unknown rooms differ
        (
            {"pc-1": "a", "pc-2": "a", "pc-3": "a"},
            [],
        ),  # one room: device losses, held for their group (the sweep forms the room ticket)
        ({"pc-1": None, "pc-2": None}, [("pc-1", "device_down", ()), ("pc-2", "device_down", ())]),  # too few
    ],
)
def test_link_down(rooms: dict[str, str | None], expected: list[tuple[str, str, tuple[str, ...]]]) -> None:
    assert settle(rooms) == expected


def test_the_summary_counts_devices_and_rooms() -> None:
    places = {("main", d): DeviceFacts(room=r) for d, r in {"pc-1": "a", "pc-2": "b", "pc-3": "b"}.items()}
    snap = snapshot(places=places, campuses={"main": CampusView()})
    (act,) = decide(LinkSettled(SCHOOL, (("main", "pc-1"), ("main", "pc-2"), ("main", "pc-3"))), snap)
    assert isinstance(act, OpenTicket) and act.severity == "critical"
    assert act.summary.startswith("3 devices in 2 rooms did not come back after the broker returned")


@pytest.mark.parametrize(("down_for", "opens"), [(299.0, False), (300.0, True), (3600.0, True)])
def test_a_campus_bridge_down_long_enough_is_one_ticket(down_for: float, opens: bool) -> None:
    acts = decide(CampusLinkAway("east", 1000.0 + down_for, 1000.0), snapshot(bridge_down_after=300.0))
    if not opens:
        assert acts == []
        return
    (act,) = acts
    assert isinstance(act, OpenTicket)
    assert (act.campus, act.device, act.problem, act.subject, act.severity) == (
        "east",
        "",
        "link_down",
        "bridge",
        "critical",
    )
    assert act.summary.startswith(
        f"campus east: the link from its broker to the central broker is down (for {down_for:.0f} s"
    )


@pytest.mark.parametrize(
    ("down_for", "note"),
    [
        (42.4, "resolved automatically: the campus link is back after 42 s"),
        (None, "resolved automatically: the campus link is up"),
    ],
)
def test_the_bridge_back_resolves(down_for: float | None, note: str) -> None:
    acts = decide(CampusLinkBack("east", 2000.0, down_for), snapshot())
    assert acts == [ResolveTicket("east", "", "link_down", note, "bridge")]
