"""Root cause: devices lost together behind one switch or in one room become one ticket that names the
cause and lists them, instead of a ticket each. Pure: it reads a campus view and writes actions."""

from __future__ import annotations

from collections import defaultdict

from .actions import Action, OpenTicket
from .state import DOWN_PROBLEMS, CampusView, Cover, Snapshot


class CampusWork:
    """A campus as one decision leaves it: which devices a ticket covers and which rooms have a room
    ticket, updated as the decision opens tickets, so a later step sees what an earlier one did."""

    def __init__(self, view: CampusView) -> None:
        self.lost = view.lost
        self.covering: dict[str, Cover] = dict(view.covering)
        self.rooms: set[str] = set(view.room_tickets)

    def recent(self, at: float, window: float) -> list[str]:
        """Devices lost within the grouping window before `at`."""
        return sorted(d for d, since in self.lost.items() if since >= at - window)


def groupable(snap: Snapshot, campus: str, device: str) -> bool:
    """Could this device's loss be part of a group (it has an upstream, or a room with company)?"""
    f = snap.facts(campus, device)
    return f.upstream is not None or f.room is not None


def attach_to_switch(snap: Snapshot, work: CampusWork, campus: str, device: str) -> list[Action] | None:
    """Its switch is down (or already a ticket's cause): the device joins that ticket. None: not so."""
    up = snap.facts(campus, device).upstream
    if up is None:
        return None
    cause = work.covering.get(up.switch)
    if cause is None and up.switch not in work.lost:
        return None
    what = f"{device} behind {up.switch}"
    if cause is not None:
        act = OpenTicket(
            campus,
            cause.device,
            cause.problem,
            cause.summary,
            "warning",
            cause.subject,
            affected=(device,),
            what=what,
        )
    else:
        summary = f"switch {up.switch} is down: devices behind it are offline"
        room = snap.facts(campus, up.switch).room or ""
        act = OpenTicket(
            campus, up.switch, "upstream_down", summary, "critical", room=room, affected=(device,), what=what
        )
        cause = Cover(up.switch, "upstream_down", "", summary)
        work.covering[up.switch] = cause
    work.covering[device] = cause
    return [act]


def _own_or_none(cover: Cover | None, device: str) -> bool:
    return cover is None or (cover.device == device and cover.problem in DOWN_PROBLEMS)


def group(
    snap: Snapshot,
    works: dict[str, CampusWork],
    candidates: list[tuple[str, str]],
    at: float,
    problem: str = "device_down",
) -> tuple[list[Action], set[tuple[str, str]]]:
    """Group the candidates (plus devices lost within the window) by switch, then by room; a group of at
    least `group_min_devices` gets one ticket (own tickets of its devices are absorbed into it), and a
    room that has its ticket takes late-comers. Returns the actions and the candidates grouped."""
    rules = snap.rules
    actions: list[Action] = []
    grouped: set[tuple[str, str]] = set()
    for campus in sorted({c for c, _ in candidates}):
        mine = [d for c, d in candidates if c == campus]
        facts = {d: snap.facts(campus, d) for d in mine}
        switches = {f.upstream.switch for f in facts.values() if f.upstream is not None}
        rooms = {f.room for f in facts.values() if f.room is not None}
        if not switches and not rooms:
            continue  # nothing to group these devices with
        work = works.setdefault(campus, CampusWork(snap.campus(campus)))
        others = set()
        for d in work.recent(at, rules.group_window_seconds):
            if d in mine:
                continue
            f = snap.facts(campus, d)
            related = (f.upstream is not None and f.upstream.switch in switches) or f.room in rooms
            # devices already in a group (or the cause of one) stay there; own tickets are absorbed
            if related and _own_or_none(work.covering.get(d), d):
                others.add(d)
        pool = sorted(set(mine) | others)
        by_switch: dict[str, list[str]] = defaultdict(list)
        by_room: dict[str, list[str]] = defaultdict(list)
        for d in pool:
            f = snap.facts(campus, d)
            if f.upstream is not None:
                by_switch[f.upstream.switch].append(d)
            if f.room is not None:
                by_room[f.room].append(d)
        for switch, devs in sorted(by_switch.items()):
            if len(devs) < rules.group_min_devices or not set(devs) & set(mine):
                continue
            seen_rooms = {snap.facts(campus, d).room for d in devs}
            room = seen_rooms.pop() if len(seen_rooms) == 1 else None
            summary = f"{len(devs)} devices behind switch {switch} went offline together" + (
                f" (room {room})" if room else ""
            )
            actions.append(
                OpenTicket(
                    campus,
                    switch,
                    "upstream_down",
                    summary,
                    "critical",
                    room=room or "",
                    affected=tuple(devs),
                    absorb=True,
                    what=f"switch {switch}",
                )
            )
            cover = Cover(switch, "upstream_down", "", summary)
            work.covering.update(dict.fromkeys(devs, cover))
            grouped |= {(campus, d) for d in devs}
        for room, in_room in sorted(by_room.items()):
            devs = [d for d in in_room if (campus, d) not in grouped]
            if not set(devs) & set(mine):
                continue
            if len(devs) < rules.group_min_devices and room not in work.rooms:
                continue  # too few, and no room ticket a late-comer could join
            what = "went offline together" if problem == "device_down" else "are not on in school hours"
            summary = f"{len(devs)} devices in room {room} {what}"
            actions.append(
                OpenTicket(
                    campus,
                    "",
                    "room_down",
                    summary,
                    "critical",
                    room,
                    room,
                    affected=tuple(devs),
                    absorb=True,
                    what=f"room {room}",
                )
            )
            work.rooms.add(room)
            work.covering.update(dict.fromkeys(devs, Cover("", "room_down", room, summary)))
            grouped |= {(campus, d) for d in devs}
    return actions, {c for c in candidates if c in grouped}
