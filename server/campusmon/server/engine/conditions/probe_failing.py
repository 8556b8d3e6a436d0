"""probe_failing: a probed target answers but its check fails (HTTP status, body text, certificate);
the probe runner publishes `probe_failing` 1 per check, `[rules.thresholds.probe_failing]` decides."""

from __future__ import annotations

from ..actions import Action
from ..events import Report
from ..state import Snapshot
from .base import Condition
from .threshold import evaluate


def decide(ev: Report, snap: Snapshot) -> list[Action]:
    return evaluate(("probe_failing",), ev, snap)


CONDITION = Condition(
    "probe_failing",
    "a probed target answers but its check fails (probe runner)",
    (Report,),
    decide,
    threshold_rule=True,
)
