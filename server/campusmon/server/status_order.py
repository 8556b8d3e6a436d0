"""Which of two statuses of one device is newer, by the device's own clock (docs/protocol.md).

A status is ordered by the connection it belongs to, then by what happens within one connection:
`online` first, then its end (`shutdown`, or the will `lost`). The will is fixed when the connection
is made, so its `ts` says nothing about when the device was lost; what orders it is `connected`, the
connect time the will and that connection's `online` both carry. An `online` of the next connection
has a later `connected`, so it is newer than the will of the one before, whenever each arrives.

Statuses without `connected` (older publishers) are ordered by `ts`, except an old-style will: it is
newer than anything but another will, since its `ts` is only when the publisher started.
"""

from __future__ import annotations

from dataclasses import dataclass

#: within one connection: `online` comes first, then its end
_RANK = {"online": 0, "shutdown": 1, "lost": 1}


@dataclass(frozen=True, slots=True)
class StatusMark:
    """What orders one status: its state, its `ts` and the `connected` time of its connection."""

    state: str
    ts: float
    connected: float | None = None

    @property
    def key(self) -> tuple[float, int, float]:
        conn = self.ts if self.connected is None else self.connected
        return (conn, _RANK.get(self.state, 0), self.ts)


def supersedes(new: StatusMark, old: StatusMark | None) -> bool:
    """True when `new` happened after `old` (nothing stored yet: always)."""
    if old is None:
        return True
    if new.state == "lost" and new.connected is None:
        # an old-style will: we cannot tell which connection it ended, so it ends the newest one
        return old.state != "lost" or new.ts > old.ts
    return new.key > old.key
