"""Every numeric key of every config model has a range, and a value outside it is refused by name."""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Iterator
from typing import Annotated, Any

import pytest

from campusmon.agent.config import AgentConfig
from campusmon.config import ConfigError, Range, build, range_of
from campusmon.probes.config import ProbeConfig, TargetSettings
from campusmon.server.config import ServerConfig

ROOTS: tuple[type[Any], ...] = (ServerConfig, AgentConfig, ProbeConfig, TargetSettings)


def _parts(tp: Any) -> Iterator[Any]:
    """`tp` and the types inside it (union members, list items, dict values), outermost first."""
    yield tp
    origin = typing.get_origin(tp)
    if origin is Annotated:
        yield from _parts(typing.get_args(tp)[0])
    elif origin in (typing.Union, types.UnionType, list, tuple):
        for arg in typing.get_args(tp):
            yield from _parts(arg)
    elif origin is dict:
        yield from _parts(typing.get_args(tp)[1])


def models() -> list[type[Any]]:
    seen: list[type[Any]] = []
    todo = list(ROOTS)
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.append(cls)
        for tp in typing.get_type_hints(cls).values():
            todo += [p for p in _parts(tp) if dataclasses.is_dataclass(p) and isinstance(p, type)]
    return seen


def numeric_fields() -> list[tuple[type[Any], str, Any]]:
    """(model, field, annotated type) of every int or float key, alone, optional or in a list/dict."""
    out = []
    for cls in models():
        hints = typing.get_type_hints(cls, include_extras=True)
        for f in dataclasses.fields(cls):
            if any(p in (int, float) for p in _parts(hints[f.name])):
                out.append((cls, f.name, hints[f.name]))
    return out


def declared_range(tp: Any) -> Range | None:
    return next((r for p in _parts(tp) if (r := range_of(p)) is not None), None)


FIELDS = numeric_fields()


def test_the_walk_finds_the_models_and_keys_we_know() -> None:
    names = {(c.__name__, f) for c, f, _ in FIELDS}
    for known in [
        ("BrokerSettings", "session_expiry_seconds"),
        ("IngestSettings", "max_payload_bytes"),
        ("MqttSettings", "keepalive"),
        ("ChannelSettings", "rate_per_minute"),
        ("ThresholdRuleSettings", "above"),
        ("HttpOptions", "expect_status"),
        ("SnmpOptions", "retries"),
        ("BufferSettings", "max_reports"),
    ]:
        assert known in names
    assert len(FIELDS) >= 60


@pytest.mark.parametrize(("cls", "name", "tp"), FIELDS, ids=[f"{c.__name__}.{n}" for c, n, _ in FIELDS])
def test_every_numeric_key_has_a_range_that_holds_its_default(cls: type[Any], name: str, tp: Any) -> None:
    limits = declared_range(tp)
    assert limits is not None, f"{cls.__name__}.{name} needs Annotated[..., Range(lo, hi)]"
    assert math.isfinite(limits.lo) and math.isfinite(limits.hi) and limits.lo <= limits.hi
    f = next(f for f in dataclasses.fields(cls) if f.name == name)
    default = f.default_factory() if f.default_factory is not dataclasses.MISSING else f.default
    for value in default if isinstance(default, list) else [default]:
        if isinstance(value, int | float):
            assert limits.lo <= value <= limits.hi, (name, value)


@pytest.mark.parametrize(("cls", "name", "tp"), FIELDS, ids=[f"{c.__name__}.{n}" for c, n, _ in FIELDS])
def test_a_value_outside_the_range_is_refused_naming_key_and_range(
    cls: type[Any], name: str, tp: Any
) -> None:
    limits = declared_range(tp)
    assert limits is not None
    is_float = any(p is float for p in _parts(tp))
    if is_float:
        bad: list[Any] = [math.nextafter(limits.lo, -math.inf), math.nextafter(limits.hi, math.inf)]
        bad += [math.nan, math.inf, -math.inf]
    else:
        bad = [int(limits.lo) - 1, int(limits.hi) + 1]
    in_list = any(typing.get_origin(p) is list for p in _parts(tp))

    for value in bad:
        with pytest.raises(ConfigError) as err:
            build(cls, {name: [value] if in_list else value}, "section")
        message = str(err.value)
        assert f"section.{name}" in message, message
        assert f"is out of range {limits}" in message, message
