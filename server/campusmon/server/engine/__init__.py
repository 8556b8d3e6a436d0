"""The fault engine: `decide(event, snapshot) -> actions`, pure (no I/O, no sessions, no clock).

The ingest edge (server/ingest.py) validates, counts, deduplicates and stores a message, then asks the
engine with a snapshot of what it needs; the effects (server/effects.py) carry the actions out. Each
condition kind is one module under `conditions/`, listed once in `conditions.REGISTRY`."""

from __future__ import annotations

from .actions import Action, DeviceBack, MarkStale, OpenTicket, RecordHistory, ResolveTicket, ThresholdMoved
from .conditions import REGISTRY, Condition
from .events import (
    Back,
    BrokerAway,
    BrokerBack,
    CampusLinkAway,
    CampusLinkBack,
    EngineEvent,
    Happening,
    HardwareChanged,
    LinkSettled,
    Loss,
    Report,
    Tick,
)
from .scope import DeviceFacts, scope_matches
from .state import (
    AbsentDevice,
    CampusView,
    Cover,
    OnlineDevice,
    Snapshot,
    ThresholdKey,
    ThresholdState,
)

#: event type -> the conditions asked about it, in registry order
_BY_EVENT: dict[type, tuple[Condition, ...]] = {
    t: tuple(c for c in REGISTRY.values() if t in c.events)
    for t in (
        Report,
        Happening,
        HardwareChanged,
        Tick,
        BrokerAway,
        BrokerBack,
        Loss,
        Back,
        LinkSettled,
        CampusLinkAway,
        CampusLinkBack,
    )
}


def decide(event: EngineEvent, snapshot: Snapshot) -> list[Action]:
    """What every condition kind that reacts to this event says should happen, in registry order."""
    actions: list[Action] = []
    for condition in _BY_EVENT[type(event)]:
        actions.extend(condition.decide(event, snapshot))
    return actions


__all__ = [
    "REGISTRY",
    "AbsentDevice",
    "Action",
    "Back",
    "CampusLinkAway",
    "CampusLinkBack",
    "CampusView",
    "Cover",
    "DeviceBack",
    "LinkSettled",
    "Loss",
    "BrokerAway",
    "BrokerBack",
    "Condition",
    "DeviceFacts",
    "EngineEvent",
    "HardwareChanged",
    "Happening",
    "MarkStale",
    "OnlineDevice",
    "OpenTicket",
    "RecordHistory",
    "Report",
    "ResolveTicket",
    "Snapshot",
    "ThresholdKey",
    "ThresholdMoved",
    "ThresholdState",
    "Tick",
    "decide",
    "scope_matches",
]
