"""Counters to rates (wrap, reset, reboot), port classes and port faults: tables, no I/O."""

from __future__ import annotations

import re

import pytest

from campusmon.probes.ifmib import (
    COUNTER32,
    COUNTER64,
    CounterTracker,
    Port,
    PortClassifier,
    counter_delta,
    port_fault,
    port_rows,
    ports_from_columns,
    rebooted,
)

GBIT = 1_000_000_000


def port(
    i: int = 1,
    *,
    up: bool = True,
    admin: bool = True,
    octets: int = 0,
    hc: bool = True,
    speed: int = GBIT,
    alias: str = "",
    errors: int = 0,
) -> Port:
    return Port(i, f"Gi1/0/{i}", alias, admin, up, speed, octets, octets, hc, errors, 0, 0, 0)


@pytest.mark.parametrize(
    ("old", "new", "modulus", "max_delta", "expected"),
    [
        (100, 300, COUNTER32, None, 200),
        (COUNTER32 - 100, 50, COUNTER32, None, 150),  # one 32-bit wrap
        (COUNTER32 - 100, 50, COUNTER32, 1000.0, 150),
        (1_000_000_000, 10, COUNTER32, None, None),  # "wrap" by more than half the range: a reset
        (10**15, 10, COUNTER64, None, None),  # 64-bit counters do not wrap: a reset
        (10**15, 10, COUNTER64, 10**20, None),  # a wrapped delta of ~2^64 exceeds any line rate
        (100, 10**12, COUNTER64, 1e9, None),  # faster than the line: discontinuity, not traffic
        (100, 100, COUNTER64, 1e9, 0),
    ],
)
def test_counter_delta(old, new, modulus, max_delta, expected) -> None:
    assert counter_delta(old, new, modulus, max_delta) == expected


@pytest.mark.parametrize(
    ("prev", "prev_at", "ticks", "at", "expected"),
    [
        (100_000, 0.0, 106_000, 60.0, False),  # normal: 60 s later, +6000 ticks
        (100_000, 0.0, 500, 60.0, True),  # back near zero: rebooted
        (2**32 - 3000, 0.0, 3000, 60.0, False),  # TimeTicks wrap after 497 days, not a reboot
        (2**32 - 3000, 0.0, 300_000, 60.0, True),  # went back, and not where a wrap would land
    ],
)
def test_rebooted(prev, prev_at, ticks, at, expected) -> None:
    assert rebooted(prev, prev_at, ticks, at) is expected


def test_tracker_rates_wrap_and_reboot_without_spikes() -> None:
    tr = CounterTracker()
    assert tr.update(0.0, 100_000, [port(octets=1_000_000)]) == {}
    r = tr.update(10.0, 101_000, [port(octets=1_000_000 + 12_500_000, errors=5)])
    assert r[1].in_bps == pytest.approx(10_000_000)  # 12.5 MB in 10 s = 10 Mbit/s
    assert r[1].in_errors_per_second == pytest.approx(0.5)
    # a 32-bit counter wraps: the rate is still right
    legacy = CounterTracker()
    legacy.update(0.0, 1000, [port(octets=COUNTER32 - 1_000_000, hc=False)])
    r = legacy.update(1.0, 1100, [port(octets=24_000_000, hc=False)])
    assert r[1].in_bps == pytest.approx(25_000_000 * 8)
    # the switch rebooted (uptime went back): counters restart, no rate and certainly no spike
    r = tr.update(20.0, 300, [port(octets=5_000)])
    assert r == {} and tr.reboots == 1
    r = tr.update(30.0, 1300, [port(octets=5_000 + 1_250_000)])
    assert r[1].in_bps == pytest.approx(1_000_000)
    # a 64-bit counter cleared without a reboot: dropped, not 2^64 bytes of traffic
    r = tr.update(40.0, 2300, [port(octets=10)])
    assert r[1].in_bps is None and tr.discarded >= 1


def test_ports_from_columns_prefers_ifxtable_and_falls_back_to_32_bit() -> None:
    modern = ports_from_columns(
        {
            "admin": {(1,): 1, (2,): 2},
            "oper": {(1,): 1, (2,): 2},
            "name": {(1,): b"Gi1/0/1", (2,): b"Gi1/0/2"},
            "hc_in": {(1,): 5, (2,): 6},
            "hc_out": {(1,): 7, (2,): 8},
            "high_speed": {(1,): 1000, (2,): 100},
            "alias": {(1,): b"uplink core\x00"},
        }
    )
    assert [(p.name, p.alias, p.speed_bps, p.hc, p.admin_up) for p in modern] == [
        ("Gi1/0/1", "uplink core", GBIT, True, True),
        ("Gi1/0/2", "", 100_000_000, True, False),
    ]
    legacy = ports_from_columns(
        {
            "admin": {(3,): 1},
            "oper": {(3,): 7},
            "descr": {(3,): b"eth0"},
            "speed": {(3,): 10_000_000},
            "in_octets": {(3,): 11},
            "out_octets": {(3,): 12},
        }
    )
    assert legacy == [Port(3, "eth0", "", True, False, 10_000_000, 11, 12, False)]


PATTERNS = [
    ("uplink", re.compile(r"(?i)\buplink\b")),
    ("ap", re.compile(r"(?i)^ap\b")),
    ("classroom", re.compile(r"(?i)\bclass\b")),
]


@pytest.mark.parametrize(
    ("alias", "explicit", "expected"),
    [
        ("uplink core-sw1", {}, "uplink"),
        ("AP corridor-1", {}, "ap"),
        ("class C301", {}, "classroom"),
        ("printer", {}, "other"),
        ("", {}, "other"),
        ("class C301", {"Gi1/0/1": "uplink"}, "uplink"),  # config wins over the description
        ("", {"1": "ap"}, "ap"),  # by ifIndex
    ],
)
def test_classifier(alias, explicit, expected) -> None:
    assert PortClassifier(explicit, PATTERNS).classify(port(alias=alias)) == expected


@pytest.mark.parametrize(
    ("cls", "up", "admin", "school_open", "fault"),
    [
        ("uplink", False, True, False, True),
        ("ap", False, True, False, True),
        ("classroom", False, True, True, True),
        ("classroom", False, True, False, False),  # after school: a classroom port down is normal
        ("other", False, True, True, False),
        ("uplink", False, False, True, False),  # shut on purpose
        ("uplink", True, True, True, False),
    ],
)
def test_port_fault(cls, up, admin, school_open, fault) -> None:
    assert port_fault(port(up=up, admin=admin), cls, school_open) is fault


def test_port_rows_have_units_and_labels() -> None:
    tr = CounterTracker()
    tr.update(0.0, 0, [port(octets=0)])
    rates = tr.update(1.0, 100, [port(octets=12_500_000)])
    [row] = port_rows([port(octets=12_500_000, alias="uplink x")], rates, PortClassifier({}, PATTERNS), True)
    assert row["port"] == "Gi1/0/1" and row["class"] == "uplink" and row["port_fault"] == 0
    assert row["port_in_bps"] == pytest.approx(100_000_000)
    assert row["port_in_utilisation_percent"] == pytest.approx(10.0)
    assert all(isinstance(v, str) for k, v in row.items() if k in ("port", "class"))
