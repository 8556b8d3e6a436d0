"""peripheral_missing: a peripheral (document camera, touch screen) was removed; back resolves it."""

from __future__ import annotations

from collections.abc import Mapping

from ..actions import Action, OpenTicket, RecordHistory, ResolveTicket
from ..events import Happening
from ..state import Snapshot
from .base import Condition

#: event kinds that say a peripheral went away / came back
GONE = ("peripheral_removed", "peripheral_missing")
BACK = ("peripheral_added", "peripheral_restored", "peripheral_connected")


def subject(message: str, data: Mapping[str, object]) -> str:
    """Which peripheral: its name or id from the event's data, else the message."""
    for key in ("name", "peripheral", "usb_id", "id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    return message[:200] or "peripheral"


def decide(ev: Happening, snap: Snapshot) -> list[Action]:
    if ev.kind not in GONE + BACK:
        return []
    rule = snap.rule("peripheral_missing", ev.campus, ev.device)
    if rule is None:
        return []
    what = subject(ev.message, ev.data)
    gone = ev.kind in GONE
    summary = f"{ev.device}: {what} {'is missing' if gone else 'is back'}"
    if not rule.ticket:
        return [RecordHistory(ev.campus, ev.device, "peripheral_missing", summary)]
    if gone:
        room = snap.facts(ev.campus, ev.device).room or ""
        return [OpenTicket(ev.campus, ev.device, "peripheral_missing", summary, rule.severity, what, room)]
    note = f"resolved automatically: {summary}"
    return [ResolveTicket(ev.campus, ev.device, "peripheral_missing", note, what)]


CONDITION = Condition(
    "peripheral_missing", "a peripheral (document camera, touch screen) was removed", (Happening,), decide
)
