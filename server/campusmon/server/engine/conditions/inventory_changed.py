"""inventory_changed: the register found a hardware change (RAM, CPU, a disk, a monitor, a camera).
While the ticket is still active, a further change becomes a note on it."""

from __future__ import annotations

from ..actions import Action, OpenTicket, RecordHistory
from ..events import HardwareChanged
from ..state import Snapshot
from .base import Condition


def decide(ev: HardwareChanged, snap: Snapshot) -> list[Action]:
    if not ev.changes:
        return []
    rule = snap.rule("inventory_changed", ev.campus, ev.device)
    if rule is None:
        return []
    what = "; ".join(ev.changes)
    summary = f"{ev.device} (asset #{ev.asset_id}): hardware changed: {what}"
    if not rule.ticket:
        return [RecordHistory(ev.campus, ev.device, "inventory_changed", summary)]
    room = snap.facts(ev.campus, ev.device).room or ""
    return [
        OpenTicket(
            ev.campus,
            ev.device,
            "inventory_changed",
            summary[:500],
            rule.severity,
            room=room,
            extra=f"also changed: {what}",
        )
    ]


CONDITION = Condition("inventory_changed", "the register found a hardware change", (HardwareChanged,), decide)
