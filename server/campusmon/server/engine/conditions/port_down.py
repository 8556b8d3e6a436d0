"""port_down: a switch port the probe runner watches (an uplink, an AP's port, a classroom port in
school hours) is down; it publishes `port_fault` 1 per port, and `[rules.thresholds.port_down]`
opens one ticket per port at once (`for_seconds = 0`)."""

from __future__ import annotations

from ..actions import Action
from ..events import Report
from ..state import Snapshot
from .base import Condition
from .threshold import evaluate


def decide(ev: Report, snap: Snapshot) -> list[Action]:
    return evaluate(("port_down",), ev, snap)


CONDITION = Condition(
    "port_down",
    "a watched switch port is down (probe runner: port_fault)",
    (Report,),
    decide,
    threshold_rule=True,
)
