"""should_be_on: not online in expected hours, and off since before the school day began (a device
switched off during the day is a person's choice). Several in one room become one room ticket."""

from __future__ import annotations

from ..actions import Action, ResolveTicket
from ..events import Back, Tick
from ..state import Snapshot
from .base import Condition
from .device_down import sweep


def decide(ev: Tick | Back, snap: Snapshot) -> list[Action]:
    if isinstance(ev, Tick):
        return sweep(snap, ev.now, "should_be_on")
    return [ResolveTicket(ev.campus, ev.device, "should_be_on", f"resolved automatically: {ev.why}")]


CONDITION = Condition(
    "should_be_on",
    "not online during expected hours, off since before the school day began",
    (Tick, Back),
    decide,
)
