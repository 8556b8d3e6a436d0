"""Where a rule applies: a device's place (room, building, type, upstream) against a rule's scope."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import RuleScope
from ..topology import Upstream


@dataclass(frozen=True, slots=True)
class DeviceFacts:
    """Where a device is and what it is (unknown parts are None)."""

    room: str | None = None
    building: str | None = None
    device_type: str | None = None
    upstream: Upstream | None = None


UNKNOWN = DeviceFacts()


def _one(choices: list[str], value: str | None, campus: str, qualified: bool = False) -> bool:
    if not choices:
        return True
    if value is None:
        return False  # a scope that names rooms does not cover a device in no known room
    return value in choices or (qualified and f"{campus}/{value}" in choices)


def scope_matches(scope: RuleScope, campus: str, device: str, facts: DeviceFacts = UNKNOWN) -> bool:
    """Every non-empty list of the scope must match; rooms, buildings and devices may be written
    "campus/name"."""
    return (
        _one(scope.campuses, campus, campus)
        and _one(scope.buildings, facts.building, campus, qualified=True)
        and _one(scope.rooms, facts.room, campus, qualified=True)
        and _one(scope.device_types, facts.device_type, campus)
        and _one(scope.devices, device, campus, qualified=True)
    )
