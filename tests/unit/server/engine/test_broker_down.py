"""broker_down: our link away too long opens one ticket; back resolves it (by table)."""

from __future__ import annotations

import pytest

from campusmon.server.config import RulesSettings
from campusmon.server.engine import BrokerAway, BrokerBack, OpenTicket, ResolveTicket, decide

from .support import snapshot


@pytest.mark.parametrize(
    ("down_for", "after", "opens"),
    [(59.0, 60.0, False), (60.0, 60.0, True), (300.0, 60.0, True), (300.0, 600.0, False)],
)
def test_away(down_for: float, after: float, opens: bool) -> None:
    snap = snapshot(RulesSettings(broker_down_after_seconds=after), broker="10.0.0.5:8883")
    acts = decide(BrokerAway(1000.0 + down_for, 1000.0), snap)
    if not opens:
        assert acts == []
        return
    summary = f"the broker 10.0.0.5:8883 is unreachable (for {down_for:.0f} s so far)"
    assert acts == [OpenTicket("", "", "broker_down", summary, "critical", "10.0.0.5:8883")]


def test_back() -> None:
    acts = decide(BrokerBack(2000.0, 75.4), snapshot(broker="10.0.0.5:8883"))
    note = "resolved automatically: the broker is reachable again after 75 s"
    assert acts == [ResolveTicket("", "", "broker_down", note, "10.0.0.5:8883")]
