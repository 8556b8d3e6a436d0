"""Due and overdue dates follow the plan's interval from the last completed inspection (pure dates)."""

from __future__ import annotations

from datetime import date

import pytest

from campusmon.server.inspections.due import due_status, next_due, obligations

D = date


@pytest.mark.parametrize(
    ("last_done", "interval", "since", "expected"),
    [
        (None, 30, D(2026, 9, 1), D(2026, 9, 1)),  # never inspected: due from the day it was covered
        (D(2026, 11, 3), 30, D(2026, 9, 1), D(2026, 12, 3)),
        (D(2026, 11, 3), 7, D(2026, 9, 1), D(2026, 11, 10)),
        (D(2026, 12, 20), 30, D(2026, 9, 1), D(2027, 1, 19)),  # across the year
        (D(2028, 2, 1), 30, D(2026, 9, 1), D(2028, 3, 2)),  # leap February
    ],
)
def test_next_due(last_done: date | None, interval: int, since: date, expected: date) -> None:
    assert next_due(last_done, interval, since) == expected


@pytest.mark.parametrize(
    ("due_on", "today", "within", "expected"),
    [
        (D(2026, 11, 10), D(2026, 11, 1), 7, "ok"),
        (D(2026, 11, 10), D(2026, 11, 3), 7, "due"),  # seven days ahead
        (D(2026, 11, 10), D(2026, 11, 10), 0, "due"),  # the due day itself is not overdue
        (D(2026, 11, 10), D(2026, 11, 11), 7, "overdue"),
        (D(2026, 11, 10), D(2026, 11, 9), 0, "ok"),
    ],
)
def test_due_status(due_on: date, today: date, within: int, expected: str) -> None:
    assert due_status(due_on, today, within) == expected


NOV = (D(2026, 11, 1), D(2026, 11, 30))


@pytest.mark.parametrize(
    ("completions", "interval", "since", "due", "met", "done"),
    [
        ([], 30, D(2026, 10, 1), 1, 0, 0),  # never inspected, overdue into the month: due once
        ([], 30, D(2026, 12, 5), 0, 0, 0),  # not covered yet this month
        ([D(2026, 10, 20)], 30, D(2026, 1, 1), 1, 0, 0),  # due Nov 19, not done
        ([D(2026, 10, 20), D(2026, 11, 18)], 30, D(2026, 1, 1), 0, 0, 1),  # done early: nothing fell due
        ([D(2026, 10, 20), D(2026, 11, 19)], 30, D(2026, 1, 1), 1, 1, 1),  # on the day
        ([D(2026, 10, 20), D(2026, 11, 25)], 30, D(2026, 1, 1), 1, 1, 1),  # late, but done
        ([D(2026, 9, 1)], 30, D(2026, 1, 1), 1, 0, 0),  # overdue since Oct 1: falls due on Nov 1
        ([D(2026, 10, 27)], 7, D(2026, 1, 1), 4, 0, 0),  # weekly, skipped: due Nov 3, 10, 17 and 24
        ([D(2026, 10, 31), D(2026, 11, 7), D(2026, 11, 14)], 7, D(2026, 1, 1), 4, 2, 2),  # 7, 14 met; 21, 28
        ([D(2026, 11, 2), D(2026, 11, 3)], 7, D(2026, 10, 1), 4, 1, 2),  # twice in a row counts once as met
    ],
)
def test_obligations(
    completions: list[date], interval: int, since: date, due: int, met: int, done: int
) -> None:
    got = obligations(completions, interval, since, *NOV)
    assert (got.due, got.met, got.done, got.missed) == (due, met, done, due - met)
