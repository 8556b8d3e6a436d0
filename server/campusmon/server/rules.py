"""Rule evaluation: pure decisions (no I/O) that the ingest pipeline turns into ticket actions."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from campusmon.contract import Group

from .config import RuleScope, ThresholdRuleSettings

Verdict = Literal["open", "resolve"]


@dataclass(frozen=True, slots=True)
class Action:
    verdict: Verdict
    problem: str
    subject: str
    severity: str
    summary: str
    #: false: record in the device history only
    ticket: bool = True


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """Where a device is and what it is, for scope matching (unknown parts are None)."""

    room: str | None = None
    building: str | None = None
    device_type: str | None = None

    def in_scope(self, scope: RuleScope, campus: str, device: str) -> bool:
        return scope.matches(campus, device, self.room, self.building, self.device_type)


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
        facts: DeviceFacts | None = None,
    ) -> list[Action]:
        """`raised_before(problem, subject)` tells a fresh state (after a restart) about open tickets."""
        actions: list[Action] = []
        facts = facts or DeviceFacts()
        for problem, rule in self.rules.items():
            if not rule.enabled or not facts.in_scope(rule.scope, campus, device):
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
        if rule.above is not None:
            bad, limit, op = value > rule.above, rule.above, ">"
            good = rule.recover_below is not None and value < rule.recover_below
            recover, rop = rule.recover_below, "<"
        else:
            assert rule.below is not None
            bad, limit, op = value < rule.below, rule.below, "<"
            good = rule.recover_above is not None and value > rule.recover_above
            recover, rop = rule.recover_above, ">"
        if bad:
            if st.above_since is None:
                st.above_since = ts
            if not st.raised and ts - st.above_since >= rule.for_seconds:
                st.raised = True
                return Action(
                    "open",
                    problem,
                    subject,
                    rule.severity,
                    f"{device}: {what} is {value:g} ({op} {limit:g} for {rule.for_seconds:g} s)",
                    rule.ticket,
                )
            return None
        if good:
            st.above_since = None
            if st.raised:
                st.raised = False
                return Action(
                    "resolve",
                    problem,
                    subject,
                    rule.severity,
                    f"{device}: {what} back to {value:g} ({rop} {recover:g})",
                    rule.ticket,
                )
            return None
        # between the two thresholds: hold whatever state we are in (hysteresis)
        if not st.raised:
            st.above_since = None
        return None


#: event kinds that say a peripheral went away / came back
PERIPHERAL_GONE = ("peripheral_removed", "peripheral_missing")
PERIPHERAL_BACK = ("peripheral_added", "peripheral_restored", "peripheral_connected")


def peripheral_subject(message: str, data: Mapping[str, object]) -> str:
    for key in ("name", "peripheral", "usb_id", "id"):
        value = data.get(key)
        if isinstance(value, str) and value:
            return value[:200]
    return message[:200] or "peripheral"
