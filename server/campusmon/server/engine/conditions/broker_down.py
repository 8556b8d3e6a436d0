"""broker_down: the server's own link to the broker is down too long: one ticket for the broker (not
one per device, whose wills it fires); the link coming back resolves it."""

from __future__ import annotations

from ..actions import Action, OpenTicket, ResolveTicket
from ..events import BrokerAway, BrokerBack
from ..state import Snapshot
from .base import Condition


def decide(ev: BrokerAway | BrokerBack, snap: Snapshot) -> list[Action]:
    if isinstance(ev, BrokerBack):
        note = f"resolved automatically: the broker is reachable again after {ev.down_for:.0f} s"
        return [ResolveTicket("", "", "broker_down", note, snap.broker)]
    down_for = ev.now - ev.since
    if down_for < snap.rules.broker_down_after_seconds:
        return []
    summary = f"the broker {snap.broker} is unreachable (for {down_for:.0f} s so far)"
    return [OpenTicket("", "", "broker_down", summary, "critical", snap.broker)]


CONDITION = Condition(
    "broker_down",
    "the server cannot reach its broker for `broker_down_after_seconds`",
    (BrokerAway, BrokerBack),
    decide,
)
