"""inventory_changed: hardware changes open one ticket (later ones are its notes), by table."""

from __future__ import annotations

from typing import Any

import pytest

from campusmon.server.config import BuiltinRuleSettings, RuleScope, RulesSettings
from campusmon.server.engine import DeviceFacts, HardwareChanged, OpenTicket, RecordHistory, decide

from .support import snapshot


def rules(**kw: Any) -> RulesSettings:
    return RulesSettings(builtin={"inventory_changed": BuiltinRuleSettings(severity="info", **kw)})


RAM = ("memory 8 GiB -> 4 GiB",)


@pytest.mark.parametrize(
    ("changes", "settings", "expected"),
    [
        (
            RAM,
            rules(),
            [
                OpenTicket(
                    "main",
                    "pc-1",
                    "inventory_changed",
                    "pc-1 (asset #12): hardware changed: memory 8 GiB -> 4 GiB",
                    "info",
                    room="lab301",
                    extra="also changed: memory 8 GiB -> 4 GiB",
                )
            ],
        ),
        ((), rules(), []),
        (RAM, rules(enabled=False), []),
        (RAM, rules(scope=RuleScope(device_types=["panel"])), []),
        (
            ("disk removed", "camera added"),
            rules(ticket=False),
            [
                RecordHistory(
                    "main",
                    "pc-1",
                    "inventory_changed",
                    "pc-1 (asset #12): hardware changed: disk removed; camera added",
                )
            ],
        ),
    ],
)
def test_inventory_changed(changes: tuple[str, ...], settings: RulesSettings, expected: list[object]) -> None:
    snap = snapshot(settings, {("main", "pc-1"): DeviceFacts(room="lab301", device_type="pc")})
    assert decide(HardwareChanged("main", "pc-1", 12, changes, 0.0), snap) == expected


def test_a_long_change_list_is_cut_to_the_summary_field() -> None:
    many = tuple(f"disk {i} replaced" for i in range(100))
    (act,) = decide(HardwareChanged("main", "pc-1", 12, many, 0.0), snapshot(rules()))
    assert isinstance(act, OpenTicket) and len(act.summary) == 500
