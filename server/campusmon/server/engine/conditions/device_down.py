"""device_down: a device went `lost` (no clean shutdown) in expected hours.

A loss first looks for its cause: the device's switch down (it joins that ticket), or devices lost
together behind one switch or in one room (one group ticket, engine/grouping.py). Otherwise it gets
its own ticket, after `group_hold_seconds` when a group could still form (the sweep opens it then).
A device back online or shut down cleanly resolves it."""

from __future__ import annotations

from ..actions import Action, OpenTicket, RecordHistory, ResolveTicket
from ..events import Back, Loss, Tick
from ..grouping import CampusWork, attach_to_switch, group, groupable
from ..state import Snapshot
from .base import Condition

_SUMMARY = {
    "device_down": "{device} went offline without shutting down",
    "should_be_on": "{device} is not on in school hours",
}


def own_ticket(snap: Snapshot, campus: str, device: str, problem: str) -> list[Action]:
    """The device's own ticket (or a history line, when its rule says `ticket = false`)."""
    rule = snap.rule(problem, campus, device)
    if rule is None:
        return []
    summary = _SUMMARY[problem].format(device=device)
    if not rule.ticket:
        return [RecordHistory(campus, device, problem, summary)]
    room = snap.facts(campus, device).room or ""
    return [OpenTicket(campus, device, problem, summary, rule.severity, room=room)]


def loss(snap: Snapshot, works: dict[str, CampusWork], campus: str, device: str, at: float) -> list[Action]:
    """One loss in expected hours: attach to its cause, group, or its own ticket (or wait for a group)."""
    if snap.rule("device_down", campus, device) is None:
        return []
    work = works.setdefault(campus, CampusWork(snap.campus(campus)))
    attached = attach_to_switch(snap, work, campus, device)
    if attached is not None:
        return attached
    actions, grouped = group(snap, works, [(campus, device)], at)
    if grouped:
        return actions
    if not groupable(snap, campus, device) or snap.rules.group_hold_seconds <= 0:
        actions += own_ticket(snap, campus, device, "device_down")
    return actions  # else held: the sweep opens its own ticket if no group forms in time


def candidates(snap: Snapshot, now: float, problem: str) -> list[tuple[str, str]]:
    """Devices the sweep finds down (`lost`, past the hold) or not on (off since before the school
    day began) in expected hours, with no ticket saying so yet and not resolved by a person since."""
    out = []
    for d in snap.absent:
        key = (d.campus, d.device)
        if key in snap.covered:
            continue
        handled = snap.handled.get(key)
        if handled is not None and d.since <= handled:
            continue  # a person resolved this loss: it stays resolved until the device is seen again
        if (d.state == "lost") != (problem == "device_down"):
            continue
        exp = snap.expectation(d.campus, d.device, now)
        if not (exp.expected and exp.past_grace) or snap.rule(problem, *key) is None:
            continue
        if problem == "device_down":
            if groupable(snap, *key) and now - d.since < snap.rules.group_hold_seconds:
                continue  # still held: a group may form
        elif exp.day_start is None or d.since >= exp.day_start:
            continue  # switched off during the day: a person's choice, not a fault
        out.append(key)
    return out


def sweep(snap: Snapshot, now: float, problem: str) -> list[Action]:
    """The sweep's candidates for `problem`: attached to a cause, grouped, or each its own ticket."""
    keys = candidates(snap, now, problem)
    if not keys:
        return []
    works: dict[str, CampusWork] = {}
    actions: list[Action] = []
    left = []
    for campus, device in keys:
        work = works.setdefault(campus, CampusWork(snap.campus(campus)))
        attached = attach_to_switch(snap, work, campus, device) if problem == "device_down" else None
        if attached is None:
            left.append((campus, device))
        else:
            actions += attached
    grouped_actions, grouped = group(snap, works, left, now, problem)
    actions += grouped_actions
    for campus, device in left:
        if (campus, device) in grouped or device in works[campus].covering:
            continue
        actions += own_ticket(snap, campus, device, problem)
    return actions


def decide(ev: Loss | Tick | Back, snap: Snapshot) -> list[Action]:
    if isinstance(ev, Loss):
        return loss(snap, {}, ev.campus, ev.device, ev.at)
    if isinstance(ev, Tick):
        return sweep(snap, ev.now, "device_down")
    return [ResolveTicket(ev.campus, ev.device, "device_down", f"resolved automatically: {ev.why}")]


CONDITION = Condition(
    "device_down",
    "went offline without shutting down (`lost`) during expected hours",
    (Loss, Tick, Back),
    decide,
)
