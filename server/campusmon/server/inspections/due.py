"""When an inspection falls due: pure date arithmetic on calendar days in the school's time zone.

The next inspection is due `interval_days` after the last completed one (an early inspection starts the
clock again); a room or asset never inspected is due from the day the plan first covered it. It is
overdue from the day after its due date.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

DueStatus = Literal["ok", "due", "overdue"]


def next_due(last_done: date | None, interval_days: int, since: date) -> date:
    """The day the next inspection is due."""
    if last_done is None:
        return since
    return last_done + timedelta(days=interval_days)


def due_status(due_on: date, today: date, within_days: int = 0) -> DueStatus:
    """overdue after the due day; due on it or within `within_days` before it; ok otherwise."""
    if today > due_on:
        return "overdue"
    if (due_on - today).days <= within_days:
        return "due"
    return "ok"


@dataclass(frozen=True, slots=True)
class Obligations:
    """Inspections of one room or asset under one plan within a period."""

    #: how many times an inspection fell due in the period
    due: int
    #: how many of those were done (by the completion that followed them)
    met: int
    #: completed inspections in the period (an early one counts here, not as met)
    done: int

    @property
    def missed(self) -> int:
        return self.due - self.met


def obligations(
    completions: Iterable[date], interval_days: int, since: date, start: date, end: date
) -> Obligations:
    """Count what fell due between `start` and `end` (inclusive) and what was done.

    An inspection already overdue when the period starts falls due on its first day; each whole
    interval that passes without one falls due again."""
    done = sorted(completions)
    before = [d for d in done if d < start]
    inside = [d for d in done if start <= d <= end]
    step = timedelta(days=interval_days)
    due_on = max(next_due(before[-1] if before else None, interval_days, since), start)
    n_due = met = 0
    for d in inside:
        fell = 0
        while due_on <= d:
            fell += 1
            due_on += step
        n_due += fell
        met += 1 if fell else 0
        due_on = d + step
    while due_on <= end:
        n_due += 1
        due_on += step
    return Obligations(n_due, met, len(inside))
