"""threshold: a metric past a limit for a while opens; back past the recovery limit resolves.

Every `[rules.thresholds.NAME]` rule is one of these (disk_full, memory_saturated, cpu_saturated and
the site's own), except the rules whose NAME is a condition kind of its own (port_down, probe_failing),
which reuse `evaluate` for their one rule."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache

from campusmon.contract import Group

from ...config import ThresholdRuleSettings
from ..actions import Action, OpenTicket, RecordHistory, ResolveTicket, ThresholdMoved
from ..events import Report
from ..scope import scope_matches
from ..state import Snapshot, ThresholdState
from .base import Condition

_NOTHING = ThresholdState()


def _instances(group: Group) -> Iterable[Mapping[str, object]]:
    return [group] if isinstance(group, dict) else group


def step(
    rule: ThresholdRuleSettings, st: ThresholdState, value: float, ts: float
) -> tuple[ThresholdState, str | None]:
    """One value through the rule: the new state, and "open"/"resolve" when the verdict changes.
    `for_seconds` counts from the first bad value; between the two limits nothing changes (hysteresis)."""
    if rule.above is not None:
        bad = value > rule.above
        good = rule.recover_below is not None and value < rule.recover_below
    else:
        assert rule.below is not None
        bad = value < rule.below
        good = rule.recover_above is not None and value > rule.recover_above
    if bad:
        since = ts if st.above_since is None else st.above_since
        if not st.raised and ts - since >= rule.for_seconds:
            return ThresholdState(since, True), "open"
        return ThresholdState(since, st.raised), None
    if good:
        return _NOTHING, ("resolve" if st.raised else None)
    return (st if st.raised else ThresholdState(None, False)), None


def _summary(rule: ThresholdRuleSettings, device: str, subject: str, value: float, verdict: str) -> str:
    what = f"{rule.metric}{f' on {subject}' if subject else ''}"
    if verdict == "open":
        op, limit = (">", rule.above) if rule.above is not None else ("<", rule.below)
        assert limit is not None
        return f"{device}: {what} is {value:g} ({op} {limit:g} for {rule.for_seconds:g} s)"
    rop, recover = ("<", rule.recover_below) if rule.above is not None else (">", rule.recover_above)
    assert recover is not None
    return f"{device}: {what} back to {value:g} ({rop} {recover:g})"


def evaluate(names: Iterable[str], ev: Report, snap: Snapshot) -> list[Action]:
    """The threshold rules `names` over every instance of every metric group of the report."""
    actions: list[Action] = []
    if ev.replay:
        return actions  # a replay from a buffer: stored, never alerted
    facts = snap.facts(ev.campus, ev.device)
    for problem in names:
        rule = snap.rules.thresholds.get(problem)
        if rule is None or not rule.enabled or not scope_matches(rule.scope, ev.campus, ev.device, facts):
            continue
        for group in ev.metrics.values():
            for inst in _instances(group):
                value = inst.get(rule.metric)
                if not isinstance(value, int | float) or isinstance(value, bool):
                    continue
                subject = str(inst.get(rule.subject_label, "")) if rule.subject_label else ""
                key = (problem, ev.campus, ev.device, subject)
                st = snap.thresholds.get(key)
                if st is None:
                    st = ThresholdState(raised=(problem, subject) in snap.open_problems)
                new, verdict = step(rule, st, float(value), ev.ts)
                if new != st:
                    actions.append(ThresholdMoved(key, new))
                if verdict is None:
                    continue
                summary = _summary(rule, ev.device, subject, float(value), verdict)
                if not rule.ticket:
                    actions.append(RecordHistory(ev.campus, ev.device, problem, summary))
                elif verdict == "open":
                    actions.append(
                        OpenTicket(
                            ev.campus,
                            ev.device,
                            problem,
                            summary,
                            rule.severity,
                            subject=subject,
                            room=facts.room or "",
                        )
                    )
                else:
                    actions.append(
                        ResolveTicket(
                            ev.campus, ev.device, problem, f"resolved automatically: {summary}", subject
                        )
                    )
    return actions


@cache
def _owned() -> frozenset[str]:
    """Threshold rules that are a condition kind of their own (port_down): left to that kind."""
    from . import REGISTRY  # imported late: the registry imports this module

    return frozenset(k for k, c in REGISTRY.items() if c.threshold_rule)


def decide(ev: Report, snap: Snapshot) -> list[Action]:
    own = _owned()
    return evaluate((n for n in snap.rules.thresholds if n not in own), ev, snap)


CONDITION = Condition(
    "threshold", "a metric past a limit for a while ([rules.thresholds.*])", (Report,), decide
)
