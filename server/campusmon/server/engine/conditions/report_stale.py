"""report_stale: online, yet no report for `stale_intervals` x its interval in expected hours (a
half-open connection); its next report resolves it. Silence counts from our own start and from our
link to the broker coming back at the earliest (we were not listening before), and only up to the
oldest report still waiting in our own queue (reports behind a backlog are not silence)."""

from __future__ import annotations

from ..actions import Action, MarkStale, OpenTicket, RecordHistory, ResolveTicket
from ..events import Back, Report, Tick
from ..state import Snapshot
from .base import Condition


def decide(ev: Report | Tick | Back, snap: Snapshot) -> list[Action]:
    if isinstance(ev, Back):  # online again, or shut down: no longer silent
        note = f"resolved automatically: {ev.why}"
        return [
            ResolveTicket(ev.campus, ev.device, "report_stale", note),
            MarkStale(ev.campus, ev.device, False),
        ]
    if isinstance(ev, Report):
        if (ev.campus, ev.device) not in snap.stale:
            return []
        return [
            MarkStale(ev.campus, ev.device, False),
            ResolveTicket(
                ev.campus, ev.device, "report_stale", "resolved automatically: reports arrive again"
            ),
        ]
    actions: list[Action] = []
    until = ev.now if snap.reports_until is None else min(ev.now, snap.reports_until)
    for d in snap.online:
        if (d.campus, d.device) in snap.stale or d.last_seen is None or not d.interval_s:
            continue
        heard = max(d.last_seen.timestamp(), snap.started, snap.link_up_since or 0.0, d.listening_since)
        silent = until - heard
        if silent < d.interval_s * snap.rules.stale_intervals:
            continue
        rule = snap.rule("report_stale", d.campus, d.device)
        if rule is None or not snap.expectation(d.campus, d.device, ev.now).expected:
            continue
        summary = f"{d.device} is online but silent for {silent:.0f} s (half-open connection?)"
        actions.append(MarkStale(d.campus, d.device, True))
        if not rule.ticket:
            actions.append(RecordHistory(d.campus, d.device, "report_stale", summary))
            continue
        room = snap.facts(d.campus, d.device).room or ""
        actions.append(OpenTicket(d.campus, d.device, "report_stale", summary, rule.severity, room=room))
    return actions


CONDITION = Condition(
    "report_stale", "online but no report for `stale_intervals` x interval", (Report, Tick, Back), decide
)
