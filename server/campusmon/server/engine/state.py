"""What the engine knows when it decides: a read-only snapshot the edge assembles for one event."""

from __future__ import annotations

from collections.abc import Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from ..config import BuiltinRuleSettings, RulesSettings
from ..schedule import Expectation, Schedule
from .scope import UNKNOWN, DeviceFacts, scope_matches

DeviceKey = tuple[str, str]
#: (rule, campus, device, subject)
ThresholdKey = tuple[str, str, str, str]
#: built-in rules the `rules.device_down` master switch turns off together
STATUS_RULES = ("device_down", "should_be_on", "report_stale")
#: problems that mean "this device is not up"
DOWN_PROBLEMS = ("device_down", "should_be_on")


class Places(Protocol):
    """Where devices are: a dict in tests; the edge's answers from the (cached) topology."""

    def get(self, key: DeviceKey, default: DeviceFacts, /) -> DeviceFacts: ...


def _nowhere() -> dict[DeviceKey, DeviceFacts]:
    return {}


def _no_campus() -> dict[str, CampusView]:
    return {}


@dataclass(frozen=True, slots=True)
class ThresholdState:
    """Per (rule, device, subject): since when the condition holds, and whether it is raised."""

    above_since: float | None = None
    raised: bool = False


@dataclass(frozen=True, slots=True)
class Cover:
    """The active ticket that already says a device is down: its own, a switch's, or a group's."""

    device: str
    problem: str
    subject: str
    summary: str


@dataclass(frozen=True, slots=True)
class CampusView:
    """What grouping needs of one campus: every lost device (since when, unix time), the active ticket
    covering each covered device, and the rooms with an active room_down ticket."""

    lost: Mapping[str, float] = field(default_factory=dict)
    covering: Mapping[str, Cover] = field(default_factory=dict)
    room_tickets: Set[str] = frozenset()


class CampusViews(Protocol):
    """Campus views on demand: a dict's `get` in tests; the edge reads each from the database once
    per decision (only a decision about a loss needs one)."""

    def get(self, campus: str, default: CampusView, /) -> CampusView: ...


@dataclass(frozen=True, slots=True)
class AbsentDevice:
    """A device that is `lost` or `shutdown` as the sweep sees it (since: unix time)."""

    campus: str
    device: str
    state: str
    since: float


@dataclass(frozen=True, slots=True)
class OnlineDevice:
    """An online device as the sweep sees it (for silence)."""

    campus: str
    device: str
    last_seen: datetime | None
    interval_s: int | None
    #: when we could hear this device's campus again (its link back, or taken over), if later than
    #: `Snapshot.started` and `link_up_since`
    listening_since: float = 0.0


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Settings, places, memory and the database's view that one decision needs.

    `places` answers where a device is (the edge's mapping reads the cached topology, a test's is a
    dict); a device it does not know has unknown facts."""

    rules: RulesSettings
    schedule: Schedule
    places: Places = field(default_factory=_nowhere)
    #: threshold memory (only states that differ from "nothing seen")
    thresholds: Mapping[ThresholdKey, ThresholdState] = field(default_factory=dict)
    #: (problem, subject) with an active ticket on the event's device when this process first heard
    #: of it: a threshold raised before a restart stays raised
    open_problems: Set[tuple[str, str]] = frozenset()
    #: devices with report_stale raised
    stale: Set[DeviceKey] = frozenset()
    #: online devices (for Tick)
    online: Sequence[OnlineDevice] = ()
    #: when this server started listening, and when its link to the broker last came back
    started: float = 0.0
    link_up_since: float | None = None
    #: host:port of the broker, the subject of a broker_down ticket
    broker: str = ""
    #: lost and shut-down devices the edge is not holding (for Tick)
    absent: Sequence[AbsentDevice] = ()
    #: devices an active ticket says are down (for Tick)
    covered: Set[DeviceKey] = frozenset()
    #: device -> when a person last resolved a ticket saying it is down (unix time; for Tick)
    handled: Mapping[DeviceKey, float] = field(default_factory=dict)
    #: per campus, what grouping a loss needs
    campuses: CampusViews = field(default_factory=_no_campus)
    #: a campus link (bridge) down this long gets its link_down ticket (`district.bridge_down_after_seconds`)
    bridge_down_after: float = 300.0
    #: every report received before this time has been processed; reports received since wait in our
    #: own queue (None: nothing waits). Silence is counted up to here, not up to now: a device whose
    #: report waits behind a backlog (a boot storm, a slow database) is not silent
    reports_until: float | None = None

    def facts(self, campus: str, device: str) -> DeviceFacts:
        return self.places.get((campus, device), UNKNOWN)

    def rule(self, name: str, campus: str, device: str) -> BuiltinRuleSettings | None:
        """The built-in rule if it is on and its scope covers this device."""
        if name in STATUS_RULES and not self.rules.device_down:
            return None
        rule = self.rules.builtin.get(name)
        if rule is None or not rule.enabled:
            return None
        if not scope_matches(rule.scope, campus, device, self.facts(campus, device)):
            return None
        return rule

    def campus(self, campus: str) -> CampusView:
        return self.campuses.get(campus, CampusView())

    def expectation(self, campus: str, device: str, ts: float) -> Expectation:
        f = self.facts(campus, device)
        return self.schedule.at(campus, device, ts, f.room, f.device_type)
