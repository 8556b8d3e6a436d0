"""Where a device sits (room) and what it hangs off (upstream switch and port).

The rule engine asks a `Topology` to group faults by root cause. Implementations: `StaticTopology`
(from the server config) and the asset register (rooms and upstreams kept by admins or learned from
switch forwarding tables).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Upstream:
    """The switch (a device id in the same campus) and the port a device is connected to."""

    switch: str
    port: str = ""


class Topology(Protocol):
    def room_of(self, campus: str, device: str) -> str | None: ...

    def upstream_of(self, campus: str, device: str) -> Upstream | None: ...

    def devices_behind(self, campus: str, switch: str) -> list[str]: ...


@dataclass
class StaticTopology:
    """Rooms and upstreams given by hand: {campus: {device: room}} and {campus: {device: Upstream}}."""

    rooms: Mapping[str, Mapping[str, str]] = field(default_factory=dict)
    upstreams: Mapping[str, Mapping[str, Upstream]] = field(default_factory=dict)

    def room_of(self, campus: str, device: str) -> str | None:
        return self.rooms.get(campus, {}).get(device)

    def upstream_of(self, campus: str, device: str) -> Upstream | None:
        return self.upstreams.get(campus, {}).get(device)

    def devices_behind(self, campus: str, switch: str) -> list[str]:
        return sorted(d for d, up in self.upstreams.get(campus, {}).items() if up.switch == switch)
