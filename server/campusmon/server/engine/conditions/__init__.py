"""Every condition kind the engine knows: one module each, one line each below.

To add a kind: write `conditions/<kind>.py` with a `CONDITION = Condition(kind, description, events,
decide)` whose `decide(event, snapshot)` returns actions, then add its line here (and its table test
under tests/unit/server/engine/). docs/en/development.md walks through one."""

from __future__ import annotations

from . import (
    broker_down,
    device_down,
    inventory_changed,
    link_down,
    peripheral_missing,
    port_down,
    probe_failing,
    report_stale,
    room_down,
    should_be_on,
    threshold,
)
from .base import Condition

REGISTRY: dict[str, Condition] = {
    c.kind: c
    for c in (
        threshold.CONDITION,
        port_down.CONDITION,
        probe_failing.CONDITION,
        report_stale.CONDITION,
        peripheral_missing.CONDITION,
        inventory_changed.CONDITION,
        broker_down.CONDITION,
        device_down.CONDITION,
        should_be_on.CONDITION,
        room_down.CONDITION,
        link_down.CONDITION,
    )
}

__all__ = ["REGISTRY", "Condition"]
