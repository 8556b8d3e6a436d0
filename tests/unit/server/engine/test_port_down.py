"""port_down: the shipped rule, one ticket per port at once, recovery resolves (by table)."""

from __future__ import annotations

import pytest

from campusmon.server.engine import OpenTicket, ResolveTicket

from .support import only, report, run, snapshot


def ports(**faults: int) -> dict[str, object]:
    return {"ports": [{"port": p.replace("_", "/"), "port_fault": f} for p, f in faults.items()]}


@pytest.mark.parametrize(
    ("reports", "expected"),
    [
        ([ports(Gi0_1=0)], []),
        ([ports(Gi0_1=1)], [(0, "open", "Gi0/1")]),  # for_seconds = 0: at once
        ([ports(Gi0_1=1, Gi0_2=1)], [(0, "open", "Gi0/1"), (0, "open", "Gi0/2")]),  # one per port
        ([ports(Gi0_1=1), ports(Gi0_1=1)], [(0, "open", "Gi0/1")]),  # still down: nothing new
        ([ports(Gi0_1=1), ports(Gi0_1=0)], [(0, "open", "Gi0/1"), (1, "resolve", "Gi0/1")]),
    ],
)
def test_port_down(reports: list[dict[str, object]], expected: list[tuple[int, str, str]]) -> None:
    acts = run((report("sw-1", i * 60.0, r) for i, r in enumerate(reports)), snapshot(only("port_down")))
    got = [(i, "open" if isinstance(a, OpenTicket) else "resolve", a.subject) for i, a in acts]  # type: ignore[union-attr]
    assert got == expected
    assert all(a.problem == "port_down" for _, a in acts if isinstance(a, OpenTicket | ResolveTicket))
    assert all(a.severity == "critical" for _, a in acts if isinstance(a, OpenTicket))
