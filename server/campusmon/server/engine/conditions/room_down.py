"""room_down (and upstream_down): the group tickets. They are formed when devices are lost together
(engine/grouping.py, asked by device_down and should_be_on); here a device coming back is marked
recovered in them, and a group whose devices are all back (or whose switch is back) is resolved."""

from __future__ import annotations

from ..actions import Action, DeviceBack
from ..events import Back
from ..state import Snapshot
from .base import Condition


def decide(ev: Back, snap: Snapshot) -> list[Action]:
    return [DeviceBack(ev.campus, ev.device, ev.why, ev.own_groups)]


CONDITION = Condition(
    "room_down", "devices of one room or behind one switch lost together: one ticket", (Back,), decide
)
