"""link_down: after the broker came back, devices of several rooms of a campus still away are its way
to the broker (the campus link, a campus broker), not the devices: one ticket lists them. Fewer, or
all in one room, go on as device losses."""

from __future__ import annotations

from ..actions import Action, OpenTicket
from ..events import LinkSettled
from ..grouping import CampusWork
from ..state import Snapshot
from .base import Condition
from .device_down import loss


def decide(ev: LinkSettled, snap: Snapshot) -> list[Action]:
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
    "link_down", "devices of several rooms still away after the broker came back", (LinkSettled,), decide
)
