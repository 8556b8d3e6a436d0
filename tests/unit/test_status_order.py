"""Which status of a device is newer, by the device's own clock (server/status_order.py)."""

from __future__ import annotations

import pytest

from campusmon.server.status_order import StatusMark, supersedes

C1, C2 = 1_800_000_000.0, 1_800_000_100.0


@pytest.mark.parametrize(
    ("new", "old", "expected"),
    [
        # nothing stored yet
        (StatusMark("lost", C1, C1), None, True),
        # one connection: online, then its will
        (StatusMark("lost", C1, C1), StatusMark("online", C1 + 0.2, C1), True),
        (StatusMark("online", C1 + 0.2, C1), StatusMark("lost", C1, C1), False),
        # the next connection's online is newer than the will of the one before, whenever it arrives
        (StatusMark("online", C2 + 0.1, C2), StatusMark("lost", C1, C1), True),
        (StatusMark("lost", C1, C1), StatusMark("online", C2 + 0.1, C2), False),
        # a clean stop ends its connection; a will fired after it (DISCONNECT lost) does not undo it
        (StatusMark("shutdown", C1 + 50, C1), StatusMark("online", C1 + 0.2, C1), True),
        (StatusMark("lost", C1, C1), StatusMark("shutdown", C1 + 50, C1), False),
        # the same status again (retained, redelivered): not newer
        (StatusMark("online", C1 + 0.2, C1), StatusMark("online", C1 + 0.2, C1), False),
        (StatusMark("lost", C1, C1), StatusMark("lost", C1, C1), False),
        # the next connection's will after a missed online: newer (same state, no news)
        (StatusMark("lost", C2, C2), StatusMark("lost", C1, C1), True),
        # probe targets: an observation is its own epoch (connected = ts), so ts orders them
        (StatusMark("online", C1 + 60, C1 + 60), StatusMark("lost", C1, C1), True),
        (StatusMark("lost", C1 + 60, C1 + 60), StatusMark("online", C1, C1), True),
        (StatusMark("lost", C1, C1), StatusMark("online", C1 + 60, C1 + 60), False),
        # older publishers (no `connected`): a will's ts is only when the agent started
        (StatusMark("lost", C1), StatusMark("online", C1 + 0.2), True),
        (StatusMark("lost", C1), StatusMark("online", C2), True),
        (StatusMark("online", C2), StatusMark("lost", C1), True),
        (StatusMark("online", C1 - 10), StatusMark("lost", C1), False),
        (StatusMark("lost", C1), StatusMark("lost", C1), False),
        (StatusMark("lost", C2), StatusMark("lost", C1), True),
        (StatusMark("shutdown", C2), StatusMark("online", C1), True),
        (StatusMark("online", C1), StatusMark("shutdown", C2), False),
        # an agent upgraded between two connections
        (StatusMark("online", C2, C2), StatusMark("lost", C1), True),
        (StatusMark("lost", C2, C2), StatusMark("online", C1 + 0.2), True),
    ],
)
def test_supersedes(new: StatusMark, old: StatusMark | None, expected: bool) -> None:
    assert supersedes(new, old) is expected
