"""Rule evaluation: pure decisions (no I/O) that the ingest pipeline turns into ticket actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from campusmon.contract import Group

from .config import ThresholdRuleSettings

Verdict = Literal["open", "resolve"]


@dataclass(frozen=True, slots=True)
class Action:
    verdict: Verdict
    problem: str
    subject: str
    severity: str
    summary: str


def status_actions(device: str, old: str, new: str, reason: str | None) -> list[Action]:
    """device_down: `lost` opens; any sign of life (`online`, even a clean `shutdown`) resolves."""
    if new == old:
        return []
    if new == "lost":
        return [Action("open", "device_down", "", "critical", f"{device} went offline without shutting down")]
    why = "came back online" if new == "online" else f"shut down cleanly ({reason or 'no reason given'})"
    return [Action("resolve", "device_down", "", "critical", f"{device} {why}")]


def _instances(group: Group) -> Iterable[Mapping[str, object]]:
    return [group] if isinstance(group, dict) else group


@dataclass
class ThresholdState:
    """Per (rule, device, subject): since when the condition holds, and whether a ticket is raised."""

    above_since: float | None = None
    raised: bool = False


@dataclass
class ThresholdEvaluator:
    """`metric > above` held for `for_seconds` opens; `metric < recover_below` resolves (hysteresis)."""

    rules: Mapping[str, ThresholdRuleSettings]
    states: dict[tuple[str, str, str, str], ThresholdState] = field(default_factory=dict)

    def evaluate(
        self,
        campus: str,
        device: str,
        ts: float,
        metrics: Mapping[str, Group],
        raised_before: Callable[[str, str], bool] | None = None,
    ) -> list[Action]:
        """`raised_before(problem, subject)` tells a fresh state (after a restart) about open tickets."""
        actions: list[Action] = []
        for problem, rule in self.rules.items():
            if not rule.enabled:
                continue
            for group in metrics.values():
                for inst in _instances(group):
                    value = inst.get(rule.metric)
                    if not isinstance(value, int | float) or isinstance(value, bool):
                        continue
                    subject = str(inst.get(rule.subject_label, "")) if rule.subject_label else ""
                    key = (problem, campus, device, subject)
                    st = self.states.get(key)
                    if st is None:
                        raised = raised_before(problem, subject) if raised_before else False
                        st = self.states[key] = ThresholdState(raised=raised)
                    action = self._step(problem, rule, st, device, subject, float(value), ts)
                    if action is not None:
                        actions.append(action)
        return actions

    @staticmethod
    def _step(
        problem: str,
        rule: ThresholdRuleSettings,
        st: ThresholdState,
        device: str,
        subject: str,
        value: float,
        ts: float,
    ) -> Action | None:
        what = f"{rule.metric}{f' on {subject}' if subject else ''}"
        if value > rule.above:
            if st.above_since is None:
                st.above_since = ts
            if not st.raised and ts - st.above_since >= rule.for_seconds:
                st.raised = True
                return Action(
                    "open",
                    problem,
                    subject,
                    rule.severity,
                    f"{device}: {what} is {value:g} (> {rule.above:g} for {rule.for_seconds:g} s)",
                )
            return None
        if value < rule.recover_below:
            st.above_since = None
            if st.raised:
                st.raised = False
                return Action(
                    "resolve",
                    problem,
                    subject,
                    rule.severity,
                    f"{device}: {what} back to {value:g} (< {rule.recover_below:g})",
                )
            return None
        # between recover_below and above: hold whatever state we are in (hysteresis)
        if not st.raised:
            st.above_since = None
        return None
