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


EngineEvent = Report | Happening | HardwareChanged | Tick | BrokerAway | BrokerBack
