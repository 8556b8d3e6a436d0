"""probe_failing: the shipped rule waits 120 s, one ticket per check (by table)."""

from __future__ import annotations

import pytest

from campusmon.server.engine import OpenTicket

from .support import only, report, run, snapshot


def check(failing: int, name: str = "http") -> dict[str, object]:
    return {"probe": [{"check": name, "probe_failing": failing}]}


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 1], []),  # 60 s: not yet
        ([1, 1, 1], [(2, "open")]),  # 120 s failing
        ([1, 0, 1, 1], []),  # answered in between: the wait starts again
        ([1, 1, 1, 0], [(2, "open"), (3, "resolve")]),
    ],
)
def test_probe_failing(values: list[int], expected: list[tuple[int, str]]) -> None:
    acts = run(
        (report("web-1", i * 60.0, check(v)) for i, v in enumerate(values)), snapshot(only("probe_failing"))
    )
    assert [(i, "open" if isinstance(a, OpenTicket) else "resolve") for i, a in acts] == expected
    assert all(a.subject == "http" and a.problem == "probe_failing" for _, a in acts)  # type: ignore[union-attr]
