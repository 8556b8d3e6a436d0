"""School hours predicate and the strict probe runner config."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from campusmon.config import ConfigError, build, load
from campusmon.probes.config import ProbeConfig, load_probe_config
from campusmon.probes.schedule import SchoolHoursSettings, school_hours

ROOT = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize(
    ("utc", "expected"),
    [
        (datetime(2026, 11, 23, 1, 0, tzinfo=UTC), True),  # Monday 09:00 in Shanghai
        (datetime(2026, 11, 23, 10, 0, tzinfo=UTC), False),  # Monday 18:00
        (datetime(2026, 11, 22, 1, 0, tzinfo=UTC), False),  # Sunday
        (datetime(2026, 11, 22, 23, 30, tzinfo=UTC), True),  # Monday 07:30 local, Sunday in UTC
        (datetime(2026, 10, 1, 2, 0, tzinfo=UTC), False),  # a closed date
    ],
)
def test_weekly_hours_in_local_time(utc, expected) -> None:
    hours = school_hours(build(SchoolHoursSettings, {"closed_dates": ["2026-10-01"]}))
    assert hours.is_open(utc) is expected


def test_always_and_never() -> None:
    now = datetime.now(UTC)
    assert school_hours(SchoolHoursSettings(mode="always")).is_open(now)
    assert not school_hours(SchoolHoursSettings(mode="never")).is_open(now)


def test_sample_config_is_valid() -> None:
    cfg = load_probe_config(ROOT / "probes" / "sample-probes.toml")
    kinds = {t.kind for t in cfg.targets}
    assert kinds == {"snmp", "icmp", "tcp", "http"}
    web = next(t for t in cfg.targets if t.kind == "http")
    assert web.host  # taken from the URL


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"targets": [{"id": "sw1", "kind": "snmp", "hots": "x"}]}, "did you mean 'host'"),
        ({"targets": [{"id": "sw1", "kind": "smnp", "host": "x"}]}, "did you mean 'snmp'"),
        ({"targets": [{"id": "Bad Id", "kind": "icmp", "host": "x"}]}, "does not match"),
        ({"targets": [{"id": "a", "kind": "icmp"}]}, "host is required"),
        ({"targets": [{"id": "a", "kind": "tcp", "host": "x"}]}, "tcp.port"),
        ({"targets": [{"id": "a", "kind": "http", "http": {"url": "ftp://x"}}]}, "http.url"),
        (
            {"targets": [{"id": "a", "kind": "icmp", "host": "x"}, {"id": "a", "kind": "icmp", "host": "y"}]},
            "used twice",
        ),
        ({"targets": [{"id": "s", "kind": "snmp", "host": "x", "snmp": {"version": "3"}}]}, "needs a user"),
        (
            {"targets": [{"id": "s", "kind": "snmp", "host": "x", "snmp": {"port_classes": {"1": "upink"}}}]},
            "not one of",
        ),
        ({"port_patterns": {"uplink": "("}}, "bad regular expression"),
        ({"school_hours": {"timezone": "Mars/Olympus"}}, "unknown time zone"),
        ({"school_hours": {"start": "18:00", "end": "08:00"}}, "end must be after start"),
    ],
)
def test_bad_config_is_explained(data, message, tmp_path) -> None:
    with pytest.raises(ConfigError, match=message):
        build(ProbeConfig, data)


def test_environment_overrides(tmp_path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[runner]\ncampus = "east"\n', encoding="utf-8")
    cfg = load(ProbeConfig, path, environ={"CAMPUSMON_RUNNER__CONCURRENCY": "8"})
    assert cfg.runner.campus == "east" and cfg.runner.concurrency == 8
