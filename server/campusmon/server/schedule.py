"""Expected hours: when a device should be on (school days, lesson hours, holidays, term dates).

Pure logic with no I/O except reading holiday files once at start. Times are unix seconds; the
schedule works in its local time zone (Asia/Shanghai by default).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    from .config import ScheduleProfile, ScheduleSettings

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class ScheduleError(ValueError):
    """A schedule that cannot be understood (bad time, date, day name, unknown profile)."""


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ScheduleError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def parse_dates(items: Iterable[str]) -> list[tuple[date, date]]:
    """ "2026-10-01" or "2026-10-01..2026-10-07" → inclusive ranges."""
    out: list[tuple[date, date]] = []
    for item in items:
        first, sep, last = item.partition("..")
        start = _parse_date(first)
        end = _parse_date(last) if sep else start
        if end < start:
            raise ScheduleError(f"{item!r}: the range ends before it starts")
        out.append((start, end))
    return out


def read_date_file(path: Path) -> list[str]:
    """One date or range per line; blank lines and `#` comments are ignored."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScheduleError(f"cannot read {path}: {exc}") from None
    except UnicodeDecodeError:
        raise ScheduleError(f"{path} is not UTF-8 text (one date or range per line)") from None
    lines = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    return [line for line in lines if line]


def _parse_clock(text: str) -> time | None:
    """ "HH:MM" → time; "24:00" → None (end of day)."""
    hh, sep, mm = text.strip().partition(":")
    if not sep or not hh.isdigit() or not mm.isdigit():
        raise ScheduleError(f"{text!r} is not HH:MM")
    h, m = int(hh), int(mm)
    if (h, m) == (24, 0):
        return None
    if not (0 <= h < 24 and 0 <= m < 60):
        raise ScheduleError(f"{text!r} is not a time of day")
    return time(h, m)


@dataclass(frozen=True, slots=True)
class Period:
    start: time
    #: None: until midnight
    end: time | None

    def contains(self, t: time) -> bool:
        return self.start <= t and (self.end is None or t < self.end)


def parse_periods(items: Iterable[str]) -> list[Period]:
    out: list[Period] = []
    for item in items:
        a, sep, b = item.partition("-")
        if not sep:
            raise ScheduleError(f"{item!r} is not HH:MM-HH:MM")
        start, end = _parse_clock(a), _parse_clock(b)
        if start is None:
            raise ScheduleError(f"{item!r}: a period cannot start at 24:00")
        if end is not None and end <= start:
            raise ScheduleError(f"{item!r}: the period ends before it starts")
        out.append(Period(start, end))
    return sorted(out, key=lambda p: p.start)


@dataclass(frozen=True)
class Profile:
    name: str
    weekdays: frozenset[int]
    periods: tuple[Period, ...]
    holidays: tuple[tuple[date, date], ...]
    terms: tuple[tuple[date, date], ...]
    extra_days: frozenset[date]

    def is_school_day(self, d: date) -> bool:
        if any(a <= d <= b for a, b in self.holidays):
            return False
        if self.terms and not any(a <= d <= b for a, b in self.terms):
            return False
        return d in self.extra_days or d.weekday() in self.weekdays

    def period_at(self, local: datetime) -> Period | None:
        if not self.is_school_day(local.date()):
            return None
        t = local.time()
        return next((p for p in self.periods if p.contains(t)), None)


def compile_profile(name: str, p: ScheduleProfile) -> Profile:
    weekdays = set()
    for day in p.days:
        key = day.strip().lower()[:3]
        if key not in DAYS:
            raise ScheduleError(f"profile {name}: {day!r} is not a day (mon … sun)")
        weekdays.add(DAYS.index(key))
    holidays = list(p.holidays)
    for path in p.holiday_files:
        holidays += read_date_file(path)
    try:
        return Profile(
            name=name,
            weekdays=frozenset(weekdays),
            periods=tuple(parse_periods(p.hours)),
            holidays=tuple(parse_dates(holidays)),
            terms=tuple(parse_dates(p.terms)),
            extra_days=frozenset(d for a, b in parse_dates(p.extra_days) for d in _days(a, b)),
        )
    except ScheduleError as exc:
        raise ScheduleError(f"profile {name}: {exc}") from None


def _days(a: date, b: date) -> Iterable[date]:
    while a <= b:
        yield a
        a += timedelta(days=1)


@dataclass(frozen=True, slots=True)
class Expectation:
    """What the schedule says about one device at one moment."""

    #: inside a lesson period of a school day
    expected: bool
    #: ... and past the grace after that period began: a device that is not online is a fault
    past_grace: bool
    #: unix time the school day's first period began (None on a day off)
    day_start: float | None
    profile: str


class Schedule:
    """Resolves the profile of a device (device > type > room > campus > default) and answers
    whether it is expected on at a given moment."""

    def __init__(
        self,
        tz: ZoneInfo,
        profiles: dict[str, Profile],
        default: str,
        grace_seconds: float,
        assign_campuses: dict[str, str] | None = None,
        assign_rooms: dict[str, str] | None = None,
        assign_types: dict[str, str] | None = None,
        assign_devices: dict[str, str] | None = None,
    ) -> None:
        self.tz = tz
        self.profiles = profiles
        self.default = default
        self.grace_seconds = grace_seconds
        self.campuses = assign_campuses or {}
        self.rooms = assign_rooms or {}
        self.types = assign_types or {}
        self.devices = assign_devices or {}
        for where, table in (
            ("campuses", self.campuses),
            ("rooms", self.rooms),
            ("device_types", self.types),
            ("devices", self.devices),
        ):
            for key, prof in table.items():
                if prof not in profiles:
                    raise ScheduleError(f"assign.{where}.{key}: no profile {prof!r}")
        if default not in profiles:
            raise ScheduleError(f"default: no profile {default!r}")

    @classmethod
    def always(cls) -> Schedule:
        return cls(
            ZoneInfo("UTC"),
            {"always": Profile("always", frozenset(range(7)), (Period(time(0), None),), (), (), frozenset())},
            "always",
            0.0,
        )

    def profile_for(
        self, campus: str, device: str, room: str | None = None, device_type: str | None = None
    ) -> Profile:
        def pick(table: dict[str, str], key: str | None) -> str | None:
            if key is None:
                return None
            return table.get(f"{campus}/{key}") or table.get(key)

        name = (
            pick(self.devices, device)
            or (self.types.get(device_type) if device_type else None)
            or pick(self.rooms, room)
            or self.campuses.get(campus)
            or self.default
        )
        return self.profiles[name]

    def local(self, ts: float) -> datetime:
        return datetime.fromtimestamp(ts, self.tz)

    def expectation(self, profile: Profile, ts: float) -> Expectation:
        local = self.local(ts)
        period = profile.period_at(local)
        day_start: float | None = None
        if profile.is_school_day(local.date()) and profile.periods:
            first = datetime.combine(local.date(), profile.periods[0].start, self.tz)
            day_start = first.timestamp()
        if period is None:
            return Expectation(False, False, day_start, profile.name)
        began = datetime.combine(local.date(), period.start, self.tz).timestamp()
        return Expectation(True, ts - began >= self.grace_seconds, day_start, profile.name)

    def at(
        self,
        campus: str,
        device: str,
        ts: float,
        room: str | None = None,
        device_type: str | None = None,
    ) -> Expectation:
        return self.expectation(self.profile_for(campus, device, room, device_type), ts)


def compile_schedule(settings: ScheduleSettings) -> Schedule:
    try:
        tz = ZoneInfo(settings.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ScheduleError(f"timezone {settings.timezone!r} is unknown (e.g. Asia/Shanghai)") from None
    if settings.grace_minutes < 0:
        raise ScheduleError("grace_minutes must be >= 0")
    profiles = {name: compile_profile(name, p) for name, p in settings.profiles.items()}
    a = settings.assign
    return Schedule(
        tz,
        profiles,
        settings.default,
        settings.grace_minutes * 60,
        dict(a.campuses),
        dict(a.rooms),
        dict(a.device_types),
        dict(a.devices),
    )
