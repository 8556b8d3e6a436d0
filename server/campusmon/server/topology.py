"""Where a device sits (room) and what it hangs off (upstream switch and port).

The rule engine asks a `Topology` to group faults by root cause. Implementations: `StaticTopology`
(from the server config) and the asset register (rooms and upstreams kept by admins or learned from
switch forwarding tables).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class Upstream:
    """The switch (a device id in the same campus) and the port a device is connected to."""

    switch: str
    port: str = ""


class Topology(Protocol):
    def room_of(self, campus: str, device: str) -> str | None: ...

    def upstream_of(self, campus: str, device: str) -> Upstream | None: ...

    def devices_behind(self, campus: str, switch: str) -> list[str]: ...


@runtime_checkable
class Placement(Protocol):
    """Optional extras of a topology, used to match rule and schedule scopes."""

    def building_of(self, campus: str, device: str) -> str | None: ...

    def type_of(self, campus: str, device: str) -> str | None: ...


@dataclass
class StaticTopology:
    """Rooms and upstreams given by hand: {campus: {device: room}} and {campus: {device: Upstream}}."""

    rooms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    upstreams: Mapping[str, Mapping[str, Upstream]] = field(default_factory=dict)
    #: {campus: {room: building}}
    buildings: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    #: {campus: {device: type}}
    device_types: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def room_of(self, campus: str, device: str) -> str | None:
        return self.rooms.get(campus, {}).get(device)

    def upstream_of(self, campus: str, device: str) -> Upstream | None:
        return self.upstreams.get(campus, {}).get(device)

    def devices_behind(self, campus: str, switch: str) -> list[str]:
        return sorted(d for d, up in self.upstreams.get(campus, {}).items() if up.switch == switch)

    def building_of(self, campus: str, device: str) -> str | None:
        room = self.room_of(campus, device)
        return None if room is None else self.buildings.get(campus, {}).get(room)

    def type_of(self, campus: str, device: str) -> str | None:
        return self.device_types.get(campus, {}).get(device)


@dataclass
class LayeredTopology:
    """Asks each topology in turn (the config's hand-written entries first, then the register)."""

    layers: Sequence[Topology]

    def room_of(self, campus: str, device: str) -> str | None:
        return next((r for t in self.layers if (r := t.room_of(campus, device)) is not None), None)

    def upstream_of(self, campus: str, device: str) -> Upstream | None:
        return next((u for t in self.layers if (u := t.upstream_of(campus, device)) is not None), None)

    def devices_behind(self, campus: str, switch: str) -> list[str]:
        return sorted({d for t in self.layers for d in t.devices_behind(campus, switch)})

    def building_of(self, campus: str, device: str) -> str | None:
        for t in self.layers:
            if isinstance(t, Placement) and (b := t.building_of(campus, device)) is not None:
                return b
        return None

    def type_of(self, campus: str, device: str) -> str | None:
        for t in self.layers:
            if isinstance(t, Placement) and (k := t.type_of(campus, device)) is not None:
                return k
        return None
