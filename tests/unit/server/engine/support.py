"""Snapshots and a tiny driver for the engine's table tests (no database, no clock)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from campusmon.server.config import RulesSettings, ScheduleSettings, ThresholdRuleSettings
from campusmon.server.engine import (
    Action,
    DeviceFacts,
    EngineEvent,
    Report,
    Snapshot,
    ThresholdMoved,
    ThresholdState,
    decide,
)
from campusmon.server.schedule import compile_schedule

SCHEDULE = compile_schedule(ScheduleSettings(timezone="UTC"))
#: Tuesday 2026-09-01 09:00 UTC: a school day, in a lesson period, past the grace
SCHOOL = 1_788_253_200.0
#: Sunday 2026-09-06 09:00 UTC
SUNDAY = SCHOOL + 5 * 86400


def snapshot(
    rules: RulesSettings | None = None,
    places: Mapping[tuple[str, str], DeviceFacts] | None = None,
    **parts: Any,
) -> Snapshot:
    rules = rules or RulesSettings()
    rules.validate()
    return Snapshot(rules, SCHEDULE, dict(places or {}), **parts)


def only(*names: str, **rules: ThresholdRuleSettings) -> RulesSettings:
    """Rules with just these threshold rules (shipped ones by name, or given as they are)."""
    shipped = RulesSettings().thresholds
    chosen = {n: shipped[n] for n in names}
    return RulesSettings(thresholds={**chosen, **rules})


def report(
    device: str, ts: float, metrics: Mapping[str, Any], campus: str = "main", replay: bool = False
) -> Report:
    return Report(campus, device, ts, ts, 60, metrics, replay)


def run(events: Iterable[EngineEvent], snap: Snapshot) -> list[tuple[int, Action]]:
    """Decide each event in turn, keeping the threshold memory as the effects would."""
    memory: dict[Any, ThresholdState] = dict(snap.thresholds)
    out: list[tuple[int, Action]] = []
    for i, ev in enumerate(events):
        for a in decide(ev, replace(snap, thresholds=dict(memory))):
            if isinstance(a, ThresholdMoved):
                memory[a.key] = a.state
            else:
                out.append((i, a))
    return out
