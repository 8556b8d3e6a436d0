from __future__ import annotations

import json
import sys
from typing import Any

import pytest

from campusmon.agent.collectors import CollectorUnavailable
from campusmon.agent.collectors.peripherals import (
    Peripherals,
    PeripheralsCollector,
    parse_windows,
    scan_linux,
)
from campusmon.agent.inventory import InventoryUnavailable
from tests.support.fixture_trees import linux_panel_root
from tests.unit.agent.fakes import FIXTURES, FakeClock


def load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def test_linux_panel_sysfs() -> None:
    assert scan_linux(linux_panel_root()) == Peripherals(displays=1, touchscreens=1, cameras=1)


def test_linux_nothing_there(tmp_path) -> None:
    assert scan_linux(tmp_path) == Peripherals(0, 0, 0)


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("windows-peripherals-panel.json", Peripherals(displays=1, touchscreens=1, cameras=1)),
        ("windows-peripherals-one-monitor.json", Peripherals(displays=1, touchscreens=0, cameras=0)),
    ],
)
def test_windows_recorded(fixture: str, expected: Peripherals) -> None:
    assert parse_windows(load(fixture)) == expected


def test_windows_query_is_cached_and_failures_are_unavailable() -> None:
    calls: list[int] = []
    clock = FakeClock()

    def query() -> Any:
        calls.append(1)
        if len(calls) == 3:
            raise InventoryUnavailable("PowerShell did not answer within 20 s")
        return load("windows-peripherals-panel.json")

    c = PeripheralsCollector(None, platform="win32", windows_query=query, clock=clock)
    assert {s.name: s.value for s in c.collect()}["usb_camera_count"] == 1
    c.collect()
    assert len(calls) == 1
    clock.now += 301
    c.collect()
    clock.now += 301
    with pytest.raises(CollectorUnavailable, match="did not answer"):
        c.collect()


def test_collector_on_linux_reads_the_given_root() -> None:
    c = PeripheralsCollector(None, platform="linux", root=linux_panel_root())
    assert {s.name: s.value for s in c.collect()} == {
        "display_connected_count": 1.0,
        "touchscreen_count": 1.0,
        "usb_camera_count": 1.0,
    }


def test_other_platforms_are_unavailable() -> None:
    with pytest.raises(CollectorUnavailable):
        PeripheralsCollector(None, platform="darwin").collect()
    assert sys.platform  # the default platform is the running one
