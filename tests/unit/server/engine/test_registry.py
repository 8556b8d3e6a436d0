"""Every module in engine/conditions is a registered condition kind, and the engine asks each one."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

from campusmon.server import engine
from campusmon.server.config import BUILTIN_RULES, RulesSettings
from campusmon.server.engine import REGISTRY, conditions
from campusmon.server.engine.conditions.base import Condition

#: modules of the folder that are not a kind
_NOT_KINDS = {"base"}
MODULES = sorted(m.name for m in pkgutil.iter_modules(conditions.__path__) if m.name not in _NOT_KINDS)


def test_the_folder_holds_kinds() -> None:
    assert len(MODULES) >= 7


@pytest.mark.parametrize("name", MODULES)
def test_every_condition_module_is_registered_under_its_name(name: str) -> None:
    module = importlib.import_module(f"{conditions.__name__}.{name}")
    condition = getattr(module, "CONDITION", None)
    assert isinstance(condition, Condition), f"conditions/{name}.py has no CONDITION"
    assert condition.kind == name, f"conditions/{name}.py registers as {condition.kind!r}"
    assert REGISTRY.get(name) is condition, f"add `{name}.CONDITION,` to conditions/__init__.py REGISTRY"
    assert condition.events and condition.description


def test_nothing_is_registered_that_has_no_module() -> None:
    assert sorted(REGISTRY) == MODULES


@pytest.mark.parametrize("name", MODULES)
def test_every_kind_is_asked_about_its_events(name: str) -> None:
    condition = REGISTRY[name]
    for event_type in condition.events:
        assert condition in engine._BY_EVENT[event_type]


def test_kinds_are_built_in_rules_or_shipped_thresholds() -> None:
    """A kind is switched on and scoped by `[rules.builtin.<kind>]` or `[rules.thresholds.<kind>]`."""
    known = (
        set(BUILTIN_RULES)
        | set(RulesSettings().thresholds)
        | {"threshold", "broker_down", "room_down", "link_down"}
    )
    assert set(REGISTRY) <= known


def test_a_kind_that_owns_a_threshold_rule_has_one_shipped() -> None:
    shipped = set(RulesSettings().thresholds)
    owners = {k for k, c in REGISTRY.items() if c.threshold_rule}
    assert owners == {"port_down", "probe_failing"}
    assert owners <= shipped
