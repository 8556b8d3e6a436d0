"""Expected hours: school days, lesson periods, grace, holidays, terms, make-up days, overrides."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from campusmon.config import ConfigError, load
from campusmon.server.config import ScheduleAssign, ScheduleProfile, ScheduleSettings, ServerConfig
from campusmon.server.schedule import ScheduleError, compile_schedule, parse_dates, parse_periods

SH = ZoneInfo("Asia/Shanghai")


def ts(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=SH).timestamp()


def settings(**profile: object) -> ScheduleSettings:
    s = ScheduleSettings()
    s.profiles["school"] = ScheduleProfile(**profile)  # type: ignore[arg-type]
    s.validate()
    return s


# 2026-12-02 is a Wednesday, 2026-12-05 a Saturday
@pytest.mark.parametrize(
    ("when", "expected", "past_grace"),
    [
        ("2026-12-02 07:29", False, False),  # before school
        ("2026-12-02 07:30", True, False),  # the day starts: grace runs
        ("2026-12-02 07:39", True, False),
        ("2026-12-02 07:40", True, True),  # grace (10 min) over
        ("2026-12-02 12:30", False, False),  # lunch
        ("2026-12-02 13:35", True, False),  # grace after the afternoon period starts
        ("2026-12-02 17:29", True, True),
        ("2026-12-02 17:30", False, False),  # school is over
        ("2026-12-05 10:00", False, False),  # Saturday
    ],
)
def test_default_school_profile(when: str, expected: bool, past_grace: bool) -> None:
    sched = compile_schedule(ScheduleSettings())
    exp = sched.at("main", "pc-1", ts(when))
    assert (exp.expected, exp.past_grace) == (expected, past_grace)


def test_day_start_is_the_first_period_in_local_time() -> None:
    sched = compile_schedule(ScheduleSettings())
    assert sched.at("main", "pc", ts("2026-12-02 15:00")).day_start == ts("2026-12-02 07:30")
    assert sched.at("main", "pc", ts("2026-12-05 10:00")).day_start is None


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        ("2026-10-01 10:00", False),  # national day holiday (a Thursday)
        ("2026-10-07 10:00", False),
        ("2026-10-08 10:00", True),
        ("2026-10-10 10:00", True),  # a Saturday made a school day (调休)
        ("2027-02-01 10:00", False),  # outside the term
    ],
)
def test_holidays_terms_and_extra_days(when: str, expected: bool) -> None:
    s = settings(
        holidays=["2026-10-01..2026-10-07"], terms=["2026-09-01..2027-01-20"], extra_days=["2026-10-10"]
    )
    assert compile_schedule(s).at("main", "pc", ts(when)).expected is expected


def test_holiday_file_is_imported(tmp_path: Path) -> None:
    f = tmp_path / "holidays.txt"
    f.write_text("# 2026 calendar\n2026-12-02  # sports day\n\n2026-12-24..2026-12-25\n", encoding="utf-8")
    sched = compile_schedule(settings(holiday_files=[f]))
    assert not sched.at("main", "pc", ts("2026-12-02 10:00")).expected
    assert not sched.at("main", "pc", ts("2026-12-25 10:00")).expected
    assert sched.at("main", "pc", ts("2026-12-03 10:00")).expected


def test_overrides_most_specific_wins() -> None:
    s = ScheduleSettings(
        assign=ScheduleAssign(
            campuses={"east": "always"},
            rooms={"main/lab301": "always"},
            device_types={"switch": "always"},
            devices={"main/pc-night": "always", "east/pc-day": "school"},
        )
    )
    s.validate()
    sched = compile_schedule(s)
    sat = ts("2026-12-05 03:00")
    assert not sched.at("main", "pc-1", sat).expected
    assert sched.at("main", "pc-1", sat, room="lab301").expected
    assert sched.at("main", "sw-1", sat, device_type="switch").expected
    assert sched.at("main", "pc-night", sat).expected
    assert sched.at("east", "pc-2", sat).expected
    assert not sched.at("east", "pc-day", sat).expected  # device beats campus


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (["8:00-7:00"], "ends before"),
        (["08:00"], "HH:MM-HH:MM"),
        (["25:00-26:00"], "not a time"),
        (["ab:cd-10:00"], "not HH:MM"),
    ],
)
def test_bad_periods(bad: list[str], message: str) -> None:
    with pytest.raises(ScheduleError, match=message):
        parse_periods(bad)


def test_bad_dates_and_config_errors(tmp_path: Path) -> None:
    with pytest.raises(ScheduleError, match="not a date"):
        parse_dates(["2026-13-01"])
    with pytest.raises(ScheduleError, match="ends before"):
        parse_dates(["2026-10-07..2026-10-01"])
    cfg = tmp_path / "s.toml"
    cfg.write_text('[schedule]\ntimezone = "Asia/Shangai"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="timezone"):
        load(ServerConfig, cfg)
    cfg.write_text('[schedule.assign.rooms]\nlab = "evening"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="no profile 'evening'"):
        load(ServerConfig, cfg)
    cfg.write_text('[schedule.profiles.school]\ndays = ["monday", "funday"]\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="funday"):
        load(ServerConfig, cfg)
    cfg.write_text("[schedule]\ngrace_minute = 5\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="did you mean 'grace_minutes'"):
        load(ServerConfig, cfg)
