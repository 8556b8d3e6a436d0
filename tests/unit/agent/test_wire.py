"""The agent builds payloads without msgspec; the contract must accept every one of them."""

from __future__ import annotations

import zlib

import pytest

from campusmon import contract
from campusmon.agent import wire
from campusmon.agent.config import AgentConfig
from campusmon.agent.report import build_report
from campusmon.agent.runner import make_collectors
from tests.unit.agent.fakes import FakePsutil


def test_constants_match_the_contract() -> None:
    assert wire.ID_PATTERN == contract.ID_PATTERN
    assert wire.DEFAULT_ROOT == contract.DEFAULT_ROOT
    assert wire.PROTOCOL_VERSION == contract.PROTOCOL_VERSION


@pytest.mark.parametrize("compress", [False, True])
def test_full_report_from_a_recorded_windows_panel_decodes(compress: bool) -> None:
    ps = FakePsutil("psutil-windows-panel.json")
    names = [n for n in AgentConfig().agent.collectors if n != "peripherals"]
    collectors = make_collectors(names, ps)
    ps.advance()
    report = build_report(collectors, campus="main", device="c302-panel", seq=42, interval=30, ts=1.7e9)
    raw = wire.encode(report, compress=compress)
    t = contract.parse_topic(wire.topic("campusmon", "main", "c302-panel", "metrics"))
    decoded = contract.decode(t, raw)
    assert isinstance(decoded, contract.Metrics) and decoded.seq == 42
    assert set(decoded.metrics) >= {"cpu", "memory", "disk", "network", "processes", "users", "sensors"}
    if compress:
        assert len(raw) < 2048  # one report on the wire
        assert zlib.decompress(raw) == wire.encode(report)


def test_status_inventory_event_decode() -> None:
    cases = [
        (
            "status",
            wire.status("main", "pc-1", 1.0, "shutdown", reason="os shutdown", interval=30, agent="a/1"),
        ),
        (
            "inventory",
            wire.inventory(
                "main",
                "pc-1",
                1.0,
                content_hash="sha256:" + "ab" * 32,
                identity={"source": "mac"},
                data={"hostname": "PC-1"},
            ),
        ),
        (
            "events",
            wire.event(
                "main",
                "pc-1",
                1.0,
                kind="buffer_overflow",
                severity="warning",
                message="m",
                data={"dropped": 3},
            ),
        ),
    ]
    for kind, payload in cases:
        t = contract.parse_topic(f"campusmon/main/pc-1/{kind}")
        assert contract.decode(t, wire.encode(payload)).ts == 1.0


def test_nan_is_refused() -> None:
    with pytest.raises(ValueError):
        wire.encode({"x": float("nan")})


def test_topic_refuses_bad_ids() -> None:
    with pytest.raises(ValueError):
        wire.topic("campusmon", "Main", "pc", "metrics")


def test_agent_bounds_are_the_contracts() -> None:
    """The agent cuts what the server would refuse; both must name the same bounds."""
    assert wire.MAX_NUMBER == contract.MAX_NUMBER
    assert wire.MAX_LABEL == contract.MAX_LABEL
    assert wire.MAX_REASON == contract.MAX_REASON
    assert wire.MAX_UNAVAILABLE == contract.MAX_UNAVAILABLE
    st = wire.status("main", "pc-1", 1.0, "shutdown", reason="r" * 500, interval=30, agent="a/1")
    assert len(st["reason"]) == contract.MAX_REASON
    assert wire.in_range(2.0**53) and not wire.in_range(1e308) and not wire.in_range(float("nan"))
