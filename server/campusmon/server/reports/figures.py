"""The monthly report's figures, computed by pure functions from rows read out of the database.

Definitions (the user docs repeat them):
- availability: the share of a device's expected hours (its school-hours schedule) during which it was
  online; time before the server first heard of it is left out; rooms, buildings and campuses add up
  their devices' seconds;
- tickets: opened in the month (by problem and by source) and resolved in the month (a transition to
  resolved inside it); inspection reminders (`inspection_overdue`) are not faults and are left out;
- time to acknowledge: opening → first acknowledged/in progress; time to resolve: opening → first
  resolved; for tickets opened in the month; median, and p90 by nearest rank;
- top devices: tickets opened in the month naming the device;
- inspections: what fell due and what was done per room or asset (see inspections/due.py);
- warranty: expired by the month's last day, or ending within `near_days` after it;
- hardware changes: RAM, disks, CPU, board, monitors and NICs added, removed or swapped, and moves.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from ..inspections.due import obligations
from ..schedule import Profile

#: device history kinds that set the live state
STATE_KINDS = {
    "status_online": "online",
    "status_shutdown": "shutdown",
    "status_lost": "lost",
    "lost_outside_hours": "lost",
}
#: problems that are reminders, not faults
NOT_FAULTS = ("inspection_overdue",)
#: ticket sources as the report groups them (an older database says "system" for automatic)
SOURCES = ("automatic", "manual", "teacher", "inspection")
SOURCE_ALIASES = {"system": "automatic"}
#: asset history fields that are hardware changes or moves
HARDWARE_FIELDS = (
    "inventory.memory_module",
    "inventory.memory",
    "inventory.disk",
    "inventory.cpu",
    "inventory.smbios",
    "inventory.monitor",
    "inventory.nic",
    "room",
)


@dataclass(frozen=True, slots=True)
class Month:
    year: int
    month: int
    tz: ZoneInfo

    @classmethod
    def parse(cls, text: str, tz: ZoneInfo) -> Month:
        y, sep, m = text.strip().partition("-")
        if not (sep and y.isdigit() and m.isdigit() and len(y) == 4 and 1 <= int(m) <= 12):
            raise ValueError(f"{text!r} is not a month (YYYY-MM)")
        return cls(int(y), int(m), tz)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def last(self) -> date:
        nxt = date(self.year + self.month // 12, self.month % 12 + 1, 1)
        return nxt - timedelta(days=1)

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first, time(0), self.tz)

    @property
    def end(self) -> datetime:
        """Exclusive: midnight at the start of the next month."""
        return datetime.combine(self.last + timedelta(days=1), time(0), self.tz)

    @property
    def label(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    def days(self) -> Iterable[date]:
        d = self.first
        while d <= self.last:
            yield d
            d += timedelta(days=1)


# -- input rows ---------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Place:
    campus: str
    building: str = ""
    room: str = ""


@dataclass(frozen=True, slots=True)
class DeviceRow:
    campus: str
    device: str
    place: Place
    profile: Profile
    #: asset tag or name, for the top-devices table
    label: str = ""


@dataclass(frozen=True, slots=True)
class StateChange:
    campus: str
    device: str
    at: float
    state: str


@dataclass(frozen=True, slots=True)
class TicketEvent:
    at: float
    action: str
    to_status: str | None


@dataclass(frozen=True, slots=True)
class TicketRow:
    id: int
    campus: str
    device: str
    problem: str
    source: str
    opened_at: float
    history: tuple[TicketEvent, ...]


@dataclass(frozen=True, slots=True)
class InspectionTargetRow:
    plan: str
    place: str
    interval_days: int
    since: date
    #: local days on which inspections of it were finished (all time)
    completions: tuple[date, ...]


@dataclass(frozen=True, slots=True)
class WarrantyRow:
    asset: str
    name: str
    type: str
    place: str
    warranty_end: date


@dataclass(frozen=True, slots=True)
class ChangeRow:
    at: float
    asset: str
    place: str
    field: str
    old: str | None
    new: str | None
    actor: str


# -- output ---------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Availability:
    online_s: float
    expected_s: float

    @property
    def percent(self) -> float | None:
        return None if self.expected_s <= 0 else 100.0 * self.online_s / self.expected_s


@dataclass(frozen=True, slots=True)
class Durations:
    count: int
    median_s: float | None
    p90_s: float | None


@dataclass(frozen=True, slots=True)
class InspectionFigure:
    plan: str
    place: str
    due: int
    met: int
    done: int

    @property
    def missed(self) -> int:
        return self.due - self.met


@dataclass(frozen=True)
class MonthlyFigures:
    month: str
    #: keyed by Place with building/room blanked for coarser levels
    by_device: dict[tuple[str, str], Availability]
    by_room: dict[Place, Availability]
    by_building: dict[Place, Availability]
    by_campus: dict[Place, Availability]
    opened_by_problem: dict[str, int]
    resolved_by_problem: dict[str, int]
    opened_by_source: dict[str, int]
    resolved_by_source: dict[str, int]
    opened: int
    resolved: int
    to_acknowledge: Durations
    to_resolve: Durations
    #: (campus, device, label, place, tickets)
    top_devices: list[tuple[str, str, str, Place, int]]
    inspections: list[InspectionFigure]
    warranty_expired: list[WarrantyRow]
    warranty_near: list[WarrantyRow]
    hardware_changes: list[ChangeRow]
    changes_by_kind: dict[str, int] = field(default_factory=dict)


# -- availability ---------------------------------------------------------------------------------------
def expected_intervals(profile: Profile, month: Month) -> list[tuple[float, float]]:
    """Unix-second intervals of the month in which the profile expects devices on."""
    out: list[tuple[float, float]] = []
    for day in month.days():
        if not profile.is_school_day(day):
            continue
        for p in profile.periods:
            a = datetime.combine(day, p.start, month.tz)
            b = (
                datetime.combine(day, p.end, month.tz)
                if p.end is not None
                else datetime.combine(day + timedelta(days=1), time(0), month.tz)
            )
            out.append((a.timestamp(), b.timestamp()))
    return out


def online_seconds(changes: Sequence[StateChange], intervals: Sequence[tuple[float, float]]) -> Availability:
    """Seconds online within the intervals, and the expected seconds whose state is known."""
    ordered = sorted(changes, key=lambda c: c.at)
    online = expected = 0.0
    for a, b in intervals:
        # the state in force at `a`, then each change inside [a, b)
        state: str | None = None
        cursor = a
        for c in ordered:
            if c.at <= a:
                state = c.state
                continue
            if c.at >= b:
                break
            if state is not None:
                expected += c.at - cursor
                if state == "online":
                    online += c.at - cursor
            state, cursor = c.state, c.at
        if state is not None:
            expected += b - cursor
            if state == "online":
                online += b - cursor
    return Availability(online, expected)


def _add(into: dict[Place, Availability], key: Place, a: Availability) -> None:
    old = into.get(key, Availability(0.0, 0.0))
    into[key] = Availability(old.online_s + a.online_s, old.expected_s + a.expected_s)


# -- durations -------------------------------------------------------------------------------------
def p90(values: Sequence[float]) -> float | None:
    """90th percentile by nearest rank (the smallest value with at least 90 % at or below it)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


def durations(values: Sequence[float]) -> Durations:
    if not values:
        return Durations(0, None, None)
    return Durations(len(values), float(statistics.median(values)), p90(values))


def source_of(raw: str) -> str:
    return SOURCE_ALIASES.get(raw, raw)


def change_kind(row: ChangeRow) -> str:
    if row.field == "room":
        return "moved"
    if row.old and not row.new:
        return "removed"
    if row.new and not row.old:
        return "added"
    return "changed"


# -- everything -----------------------------------------------------------------------------------------
def compute(
    month: Month,
    devices: Sequence[DeviceRow],
    changes: Sequence[StateChange],
    tickets: Sequence[TicketRow],
    inspection_targets: Sequence[InspectionTargetRow],
    warranty: Sequence[WarrantyRow],
    asset_changes: Sequence[ChangeRow],
    *,
    near_days: int = 90,
    top: int = 10,
) -> MonthlyFigures:
    start, end = month.start.timestamp(), month.end.timestamp()
    by_dev_changes: dict[tuple[str, str], list[StateChange]] = defaultdict(list)
    for c in changes:
        by_dev_changes[(c.campus, c.device)].append(c)
    by_device: dict[tuple[str, str], Availability] = {}
    by_room: dict[Place, Availability] = {}
    by_building: dict[Place, Availability] = {}
    by_campus: dict[Place, Availability] = {}
    for d in devices:
        a = online_seconds(by_dev_changes.get((d.campus, d.device), []), expected_intervals(d.profile, month))
        by_device[(d.campus, d.device)] = a
        _add(by_room, d.place, a)
        _add(by_building, Place(d.place.campus, d.place.building), a)
        _add(by_campus, Place(d.place.campus), a)

    faults = [t for t in tickets if t.problem not in NOT_FAULTS]
    opened = [t for t in faults if start <= t.opened_at < end]
    resolved = [
        t for t in faults if any(e.to_status == "resolved" and start <= e.at < end for e in t.history)
    ]
    ack: list[float] = []
    fix: list[float] = []
    for t in opened:
        first_ack = next((e.at for e in t.history if e.to_status in ("acknowledged", "in_progress")), None)
        if first_ack is not None:
            ack.append(first_ack - t.opened_at)
        first_fix = next((e.at for e in t.history if e.to_status == "resolved"), None)
        if first_fix is not None:
            fix.append(first_fix - t.opened_at)

    labels = {(d.campus, d.device): (d.label, d.place) for d in devices}
    per_device = Counter((t.campus, t.device) for t in opened if t.device)
    ranked = sorted(per_device.items(), key=lambda kv: (-kv[1], kv[0]))[:top]
    top_devices = [
        (c, dev, labels.get((c, dev), ("", Place(c)))[0], labels.get((c, dev), ("", Place(c)))[1], n)
        for (c, dev), n in ranked
    ]

    insp = [
        InspectionFigure(t.plan, t.place, o.due, o.met, o.done)
        for t in inspection_targets
        for o in [obligations(t.completions, t.interval_days, t.since, month.first, month.last)]
    ]
    near_limit = month.last + timedelta(days=near_days)
    expired = sorted(
        (w for w in warranty if w.warranty_end <= month.last), key=lambda w: (w.warranty_end, w.asset)
    )
    near = sorted(
        (w for w in warranty if month.last < w.warranty_end <= near_limit),
        key=lambda w: (w.warranty_end, w.asset),
    )
    hw = sorted(
        (c for c in asset_changes if c.field in HARDWARE_FIELDS and start <= c.at < end),
        key=lambda c: (c.at, c.asset, c.field),
    )
    return MonthlyFigures(
        month=month.label,
        by_device=by_device,
        by_room=by_room,
        by_building=by_building,
        by_campus=by_campus,
        opened_by_problem=dict(Counter(t.problem for t in opened)),
        resolved_by_problem=dict(Counter(t.problem for t in resolved)),
        opened_by_source=dict(Counter(source_of(t.source) for t in opened)),
        resolved_by_source=dict(Counter(source_of(t.source) for t in resolved)),
        opened=len(opened),
        resolved=len(resolved),
        to_acknowledge=durations(ack),
        to_resolve=durations(fix),
        top_devices=top_devices,
        inspections=sorted(insp, key=lambda f: (f.place, f.plan)),
        warranty_expired=expired,
        warranty_near=near,
        hardware_changes=hw,
        changes_by_kind=dict(Counter(change_kind(c) for c in hw)),
    )
