"""room_down: a device back is marked recovered in its group tickets (by table)."""

from __future__ import annotations

import pytest

from campusmon.server.engine import Back, DeviceBack, decide

from .support import SCHOOL, snapshot


@pytest.mark.parametrize("own_groups", [True, False])
def test_back_reaches_the_group_tickets(own_groups: bool) -> None:
    acts = decide(Back("main", "sw-1", "sw-1 came back online", SCHOOL, own_groups), snapshot())
    assert [a for a in acts if isinstance(a, DeviceBack)] == [
        DeviceBack("main", "sw-1", "sw-1 came back online", own_groups)
    ]
