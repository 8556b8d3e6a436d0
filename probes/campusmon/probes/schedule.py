"""When classroom ports matter: a small, pluggable "school hours" predicate.

The runner only asks `is_open(when) -> bool`; a full timetable (terms, holidays) can replace
`WeeklyHours` by anything with that method.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from campusmon.config import ConfigError

DAYS: Final = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class SchoolHours(Protocol):
    def is_open(self, when: datetime) -> bool: ...


def _hhmm(text: str, where: str) -> time:
    try:
        return time.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{where}: {text!r} is not a time like '07:30'") from exc


@dataclass
class SchoolHoursSettings:
    """Weekly hours in the campus's time zone; `always`/`never` for tests and special sites."""

    mode: str = "weekly"
    days: list[str] = field(default_factory=lambda: ["mon", "tue", "wed", "thu", "fri"])
    start: str = "07:30"
    end: str = "17:30"
    timezone: str = "Asia/Shanghai"
    #: dates (YYYY-MM-DD) with no school
    closed_dates: list[str] = field(default_factory=list)

    def validate(self) -> None:
        if self.mode not in ("weekly", "always", "never"):
            raise ConfigError(f"school_hours.mode: {self.mode!r} is not 'weekly', 'always' or 'never'")
        for d in self.days:
            if d not in DAYS:
                raise ConfigError(f"school_hours.days: {d!r} is not one of {', '.join(DAYS)}")
        if _hhmm(self.end, "school_hours.end") <= _hhmm(self.start, "school_hours.start"):
            raise ConfigError("school_hours: end must be after start")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ConfigError(f"school_hours.timezone: unknown time zone {self.timezone!r}") from exc
        for d in self.closed_dates:
            try:
                datetime.strptime(d, "%Y-%m-%d")
            except ValueError as exc:
                raise ConfigError(f"school_hours.closed_dates: {d!r} is not YYYY-MM-DD") from exc


@dataclass(frozen=True)
class Always:
    answer: bool

    def is_open(self, when: datetime) -> bool:
        return self.answer


@dataclass(frozen=True)
class WeeklyHours:
    days: frozenset[int]
    start: time
    end: time
    tz: ZoneInfo
    closed: frozenset[str] = frozenset()

    def is_open(self, when: datetime) -> bool:
        local = when.astimezone(self.tz)
        if local.weekday() not in self.days or local.strftime("%Y-%m-%d") in self.closed:
            return False
        return self.start <= local.time() < self.end


def school_hours(settings: SchoolHoursSettings) -> SchoolHours:
    if settings.mode == "always":
        return Always(True)
    if settings.mode == "never":
        return Always(False)
    return WeeklyHours(
        days=frozenset(DAYS.index(d) for d in settings.days),
        start=time.fromisoformat(settings.start),
        end=time.fromisoformat(settings.end),
        tz=ZoneInfo(settings.timezone),
        closed=frozenset(settings.closed_dates),
    )
