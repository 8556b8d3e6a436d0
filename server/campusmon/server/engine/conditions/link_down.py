"""link_down: a campus's way to the broker is down, not its devices.

In a district, a campus broker's bridge to the central broker reports itself: down for
`district.bridge_down_after_seconds` is one ticket (subject "bridge"), up again resolves it. Without
that signal, devices of several rooms of a campus still away after the broker came back say the same:
one ticket lists them; fewer, or all in one room, go on as device losses."""

from __future__ import annotations

from ..actions import Action, OpenTicket, ResolveTicket
from ..events import CampusLinkAway, CampusLinkBack, LinkSettled
from ..grouping import CampusWork
from ..state import Snapshot
from .base import Condition
from .device_down import loss

#: the subject of a campus link's ticket
BRIDGE = "bridge"


def bridge(ev: CampusLinkAway | CampusLinkBack, snap: Snapshot) -> list[Action]:
    if isinstance(ev, CampusLinkBack):
        note = (
            "resolved automatically: the campus link is up"
            if ev.down_for is None
            else f"resolved automatically: the campus link is back after {ev.down_for:.0f} s"
        )
        return [ResolveTicket(ev.campus, "", "link_down", note, BRIDGE)]
    down_for = ev.now - ev.since
    if down_for < snap.bridge_down_after:
        return []
    summary = (
        f"campus {ev.campus}: the link from its broker to the central broker is down "
        f"(for {down_for:.0f} s so far); reports wait in the campus broker"
    )
    return [OpenTicket(ev.campus, "", "link_down", summary, "critical", BRIDGE)]


def decide(ev: LinkSettled | CampusLinkAway | CampusLinkBack, snap: Snapshot) -> list[Action]:
    if not isinstance(ev, LinkSettled):
        return bridge(ev, snap)
    by_campus: dict[str, list[str]] = {}
    for campus, device in ev.away:
        by_campus.setdefault(campus, []).append(device)
    actions: list[Action] = []
    works: dict[str, CampusWork] = {}
    for campus, devices in sorted(by_campus.items()):
        rooms = {snap.facts(campus, d).room or f"?{d}" for d in devices}
        if len(devices) >= snap.rules.group_min_devices and len(rooms) > 1:
            summary = (
                f"{len(devices)} devices in {len(rooms)} rooms did not come back after the broker "
                "returned (campus link or campus broker?)"
            )
            actions.append(
                OpenTicket(
                    campus,
                    "",
                    "link_down",
                    summary,
                    "critical",
                    affected=tuple(sorted(devices)),
                    what=f"campus {campus}: {summary}",
                )
            )
        else:
            for device in devices:
                actions += loss(snap, works, campus, device, ev.now)
    return actions


CONDITION = Condition(
    "link_down",
    "a campus's link to the broker is down (its bridge, or devices of several rooms still away)",
    (LinkSettled, CampusLinkAway, CampusLinkBack),
    decide,
)
