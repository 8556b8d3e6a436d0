"""What live data already says about a checklist item, before the technician looks (pure logic).

A known open ticket for the item's problem fails it; the device's live state, its last report's
peripheral counts and disk use, or its switch-port tickets pass or fail the items that can be seen
from afar. Anything else is left for the technician (None).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from .plans import ItemSpec

Prefilled = Literal["pass", "fail"]
#: the problem of a physical check with no problem of its own
GENERIC = "inspection_failed"
#: problems that say the device is not up (own or as part of a group)
DOWN = ("device_down", "should_be_on", "upstream_down", "room_down", "report_stale")
#: how a peripheral item's name maps to the inventory's USB entries (document camera = video class)
_USB_HINTS: dict[str, tuple[str, ...]] = {
    "usb_camera": ("camera", "video", "webcam", "visualizer", "展台", "高拍仪"),
    "touchscreen": ("touch",),
}


@dataclass(frozen=True, slots=True)
class KnownTicket:
    id: int
    problem: str
    subject: str
    summary: str


@dataclass(frozen=True)
class LiveFacts:
    """What the server knows about one device now (empty when the asset reports nothing)."""

    linked: bool = False
    #: online, shutdown, lost, unknown
    state: str = "unknown"
    #: how long ago the state began, in seconds (None: unknown)
    state_age_s: float | None = None
    #: active tickets naming the device (own, or as an affected member of a group ticket)
    tickets: Sequence[KnownTicket] = ()
    #: newest value of each metric of its last report, if recent ("usb_camera_count": 0.0)
    metrics: Mapping[str, float] = field(default_factory=dict)
    #: names of the USB devices of its last inventory
    usb: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Suggestion:
    result: Prefilled | None
    #: why, in words the technician can check ("ticket #12 open: usb_camera is missing")
    evidence: str
    #: the open ticket this item is about (a failed item notes it instead of opening another)
    ticket_id: int | None = None


def _age(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 3600:
        return f" for {seconds / 60:.0f} min"
    if seconds < 86400:
        return f" for {seconds / 3600:.1f} h"
    return f" for {seconds / 86400:.1f} d"


def matching_ticket(item: ItemSpec, tickets: Sequence[KnownTicket]) -> KnownTicket | None:
    """The open ticket that is this item's problem (same problem, and a listed subject if any)."""
    for t in tickets:
        if t.problem != item.problem:
            continue
        if item.subjects and t.subject not in item.subjects and t.subject != item.key:
            continue
        if not item.subjects and item.problem == GENERIC and t.subject != item.key:
            continue  # physical checks share the generic problem: the item's key tells them apart
        return t
    if item.auto == "online":
        return next((t for t in tickets if t.problem in DOWN), None)
    return None


def suggest(item: ItemSpec, facts: LiveFacts) -> Suggestion:
    """The pre-filled result of one item on one device."""
    known = matching_ticket(item, facts.tickets)
    if known is not None:
        return Suggestion("fail", f"ticket #{known.id} open: {known.summary}", known.id)
    if not facts.linked or not item.auto:
        return Suggestion(None, "")
    if item.auto == "online":
        if facts.state == "online":
            return Suggestion("pass", f"online now{_age(facts.state_age_s)}")
        return Suggestion(None, f"not online now ({facts.state}{_age(facts.state_age_s)}): switch it on")
    if facts.state != "online":
        return Suggestion(None, f"not online now ({facts.state}): nothing live to go by")
    if item.auto.startswith("peripheral:"):
        return _peripheral(item.auto.split(":", 1)[1], facts)
    if item.auto == "disk":
        used = [v for k, v in facts.metrics.items() if k.startswith("disk_used_percent")]
        if not used:
            return Suggestion(None, "no recent disk figures")
        return Suggestion("pass", f"no disk ticket open; fullest disk {max(used):.0f}% used")
    if item.auto == "switch_ports":
        return Suggestion("pass", "online, no port or uplink ticket open")
    return Suggestion(None, "")  # pragma: no cover - plans.py admits no other kind


def _peripheral(name: str, facts: LiveFacts) -> Suggestion:
    count = facts.metrics.get(f"{name}_count")
    if count is not None:
        if count >= 1:
            return Suggestion("pass", f"reported present ({name}_count = {count:g})")
        return Suggestion("fail", f"the last report has none ({name}_count = 0)")
    hints = _USB_HINTS.get(name, ())
    seen = [u for u in facts.usb if any(h in u.lower() for h in hints)]
    if seen:
        return Suggestion("pass", f"in the last inventory: {seen[0]}")
    return Suggestion(None, "the agent reports nothing about it")
