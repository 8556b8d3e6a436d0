"""What the engine is asked about: one thing that happened, with its time (the engine reads no clock)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from campusmon.contract import Group


@dataclass(frozen=True, slots=True)
class Report:
    """A metrics report the edge accepted (valid, not a duplicate). `replay`: older than the ingest
    stale window (from an agent's buffer): it ends a silence but raises nothing."""

    campus: str
    device: str
    ts: float
    received: float
    interval: int
    metrics: Mapping[str, Group]
    replay: bool = False


@dataclass(frozen=True, slots=True)
class Happening:
    """An event a device published (a peripheral unplugged, a SMART warning), seen for the first time."""

    campus: str
    device: str
    kind: str
    message: str
    data: Mapping[str, object]
    received: float


@dataclass(frozen=True, slots=True)
class HardwareChanged:
    """The register found hardware changes in a device's inventory (one summary per change)."""

    campus: str
    device: str
    asset_id: int
    changes: tuple[str, ...]
    received: float


@dataclass(frozen=True, slots=True)
class Tick:
    """The sweep's turn: time-driven conditions (silence, expected hours)."""

    now: float


@dataclass(frozen=True, slots=True)
class BrokerAway:
    """Our own link to the broker is down, since `since`."""

    now: float
    since: float


@dataclass(frozen=True, slots=True)
class BrokerBack:
    """Our own link to the broker is back after `down_for` seconds."""

    now: float
    down_for: float


@dataclass(frozen=True, slots=True)
class Loss:
    """A device went `lost` in expected hours, and the edge has confirmed it is no broker event."""

    campus: str
    device: str
    at: float


@dataclass(frozen=True, slots=True)
class Back:
    """A device is online again or shut down cleanly: `why` says which. `own_groups`: a group ticket
    whose cause is this device (its switch) is resolved with it."""

    campus: str
    device: str
    why: str
    at: float
    own_groups: bool = True


@dataclass(frozen=True, slots=True)
class LinkSettled:
    """The broker came back `link_grace_seconds` ago and these devices, lost with it, are still away."""

    now: float
    away: tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class CampusLinkAway:
    """A campus broker's bridge to the central broker is down since `since` (district)."""

    campus: str
    now: float
    since: float


@dataclass(frozen=True, slots=True)
class CampusLinkBack:
    """A campus broker's bridge is up; `down_for` None: it was not known to be down."""

    campus: str
    now: float
    down_for: float | None


EngineEvent = (
    Report
    | Happening
    | HardwareChanged
    | Tick
    | BrokerAway
    | BrokerBack
    | Loss
    | Back
    | LinkSettled
    | CampusLinkAway
    | CampusLinkBack
)
