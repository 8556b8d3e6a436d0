"""What a condition kind is: a name, the events it reacts to, and a pure decision."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..actions import Action
from ..state import Snapshot


@dataclass(frozen=True, slots=True)
class Condition:
    """One kind of fault condition. `decide` reads the event and the snapshot and returns actions; it
    does no I/O and reads no clock."""

    kind: str
    #: one line for docs and `campusmon server check-config`
    description: str
    #: the event types (engine/events.py) it is asked about
    events: tuple[type, ...]
    decide: Callable[[Any, Snapshot], list[Action]]
    #: the kind is the shipped `[rules.thresholds.<kind>]` rule (port_down): the generic threshold
    #: kind leaves that rule to it
    threshold_rule: bool = False
