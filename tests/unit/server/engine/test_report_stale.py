"""report_stale: silence in expected hours opens, the next report resolves (by table)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from campusmon.server.config import BuiltinRuleSettings, RulesSettings
from campusmon.server.engine import (
    MarkStale,
    OnlineDevice,
    OpenTicket,
    RecordHistory,
    ResolveTicket,
    Tick,
    decide,
)

from .support import SCHOOL, SUNDAY, report, snapshot


def online(silent_for: float, now: float, interval: int | None = 60, listening: float = 0.0) -> OnlineDevice:
    return OnlineDevice("main", "pc-1", datetime.fromtimestamp(now - silent_for, UTC), interval, listening)


@pytest.mark.parametrize(
    ("now", "silent", "interval", "parts", "settings", "opens"),
    [
        (SCHOOL, 179, 60, {}, RulesSettings(), False),  # under 3 intervals
        (SCHOOL, 181, 60, {}, RulesSettings(), True),
        (SCHOOL, 181, None, {}, RulesSettings(), False),  # no interval known
        (SUNDAY, 181, 60, {}, RulesSettings(), False),  # not expected on
        (SCHOOL, 181, 60, {"stale": {("main", "pc-1")}}, RulesSettings(), False),  # already raised
        (SCHOOL, 181, 60, {"started": SCHOOL - 100}, RulesSettings(), False),  # we listen for 100 s only
        (SCHOOL, 181, 60, {"link_up_since": SCHOOL - 100}, RulesSettings(), False),  # link back 100 s
        (SCHOOL, 181, 60, {"listening": SCHOOL - 100}, RulesSettings(), False),  # campus link back 100 s
        (SCHOOL, 181, 60, {"listening": SCHOOL - 200}, RulesSettings(), True),
        (SCHOOL, 181, 60, {}, RulesSettings(device_down=False), False),  # status rules off
        (SCHOOL, 181, 60, {}, RulesSettings(stale_intervals=4), False),
        # the reports being processed are 10 s late (a backlog): silence counts up to there only
        (SCHOOL, 181, 60, {"reports_until": SCHOOL - 10}, RulesSettings(), False),
        (SCHOOL, 191, 60, {"reports_until": SCHOOL - 10}, RulesSettings(), True),
        (SCHOOL, 181, 60, {"reports_until": SCHOOL + 10}, RulesSettings(), True),  # never past now
    ],
)
def test_silence(
    now: float,
    silent: float,
    interval: int | None,
    parts: dict[str, Any],
    settings: RulesSettings,
    opens: bool,
) -> None:
    listening = parts.pop("listening", 0.0)
    acts = decide(Tick(now), snapshot(settings, online=[online(silent, now, interval, listening)], **parts))
    assert [type(a) for a in acts] == ([MarkStale, OpenTicket] if opens else [])
    if opens:
        assert acts[0] == MarkStale("main", "pc-1", True)
        assert isinstance(acts[1], OpenTicket) and acts[1].problem == "report_stale"
        assert "silent for 181 s" in acts[1].summary


def test_recorded_only_when_the_rule_says_no_ticket() -> None:
    settings = RulesSettings(builtin={"report_stale": BuiltinRuleSettings(ticket=False)})
    acts = decide(Tick(SCHOOL), snapshot(settings, online=[online(500, SCHOOL)]))
    assert [type(a) for a in acts] == [MarkStale, RecordHistory]


@pytest.mark.parametrize(("stale", "resolves"), [(True, True), (False, False)])
def test_a_report_ends_the_silence(stale: bool, resolves: bool) -> None:
    snap = snapshot(stale={("main", "pc-1")} if stale else set())
    acts = decide(report("pc-1", SCHOOL, {}), snap)
    expected = [
        MarkStale("main", "pc-1", False),
        ResolveTicket("main", "pc-1", "report_stale", "resolved automatically: reports arrive again"),
    ]
    assert acts == (expected if resolves else [])
