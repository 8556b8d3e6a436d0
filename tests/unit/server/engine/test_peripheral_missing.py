"""peripheral_missing: gone opens, back resolves, off/out of scope/record only (by table)."""

from __future__ import annotations

from typing import Any

import pytest

from campusmon.server.config import BuiltinRuleSettings, RuleScope, RulesSettings
from campusmon.server.engine import DeviceFacts, Happening, OpenTicket, RecordHistory, ResolveTicket, decide
from campusmon.server.engine.conditions.peripheral_missing import subject

from .support import snapshot


def happening(kind: str, message: str = "document camera unplugged", **data: Any) -> Happening:
    return Happening("main", "pc-1", kind, message, data, 100.0)


def rules(**kw: Any) -> RulesSettings:
    return RulesSettings(builtin={"peripheral_missing": BuiltinRuleSettings(**kw)})


@pytest.mark.parametrize(
    ("ev", "settings", "expected"),
    [
        (
            happening("peripheral_removed", name="document camera"),
            rules(),
            [
                OpenTicket(
                    "main",
                    "pc-1",
                    "peripheral_missing",
                    "pc-1: document camera is missing",
                    "warning",
                    "document camera",
                    "c302",
                )
            ],
        ),
        (
            happening("peripheral_restored", name="document camera"),
            rules(),
            [
                ResolveTicket(
                    "main",
                    "pc-1",
                    "peripheral_missing",
                    "resolved automatically: pc-1: document camera is back",
                    "document camera",
                )
            ],
        ),
        (happening("smart_warning"), rules(), []),  # not about a peripheral
        (happening("peripheral_removed"), rules(enabled=False), []),
        (happening("peripheral_removed"), rules(scope=RuleScope(rooms=["lab301"])), []),
        (
            happening("peripheral_missing", usb_id="0c45:6366"),
            rules(ticket=False),
            [RecordHistory("main", "pc-1", "peripheral_missing", "pc-1: 0c45:6366 is missing")],
        ),
    ],
)
def test_peripheral_missing(ev: Happening, settings: RulesSettings, expected: list[object]) -> None:
    assert decide(ev, snapshot(settings, {("main", "pc-1"): DeviceFacts(room="c302")})) == expected


@pytest.mark.parametrize(
    ("message", "data", "expected"),
    [
        ("document camera unplugged", {"name": "document camera"}, "document camera"),
        ("x", {"usb_id": "0c45:6366"}, "0c45:6366"),
        ("touch screen gone", {}, "touch screen gone"),
        ("", {"name": ""}, "peripheral"),
        ("x", {"name": "n" * 300}, "n" * 200),
    ],
)
def test_subject(message: str, data: dict[str, object], expected: str) -> None:
    assert subject(message, data) == expected
