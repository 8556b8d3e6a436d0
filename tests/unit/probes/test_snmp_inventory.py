"""ENTITY-MIB rows and the forwarding table from walked columns."""

from __future__ import annotations

from campusmon.probes.ifmib import Column, Port
from campusmon.probes.snmp_inventory import chassis_summary, entities, forwarding_table

PORTS = [Port(i, f"Gi1/0/{i}", "", True, True, 0, 0, 0, True) for i in (1, 2, 47)]


def test_entities_and_chassis_summary_skip_ports() -> None:
    cols: dict[str, Column] = {
        "class": {(1,): 3, (2,): 6, (1001,): 10},
        "descr": {(1,): b"chassis", (2,): b"PSU", (1001,): b"port"},
        "model": {(1,): b"WS-C2960X-48FPD-L", (2,): b"PWR-1"},
        "serial": {(1,): b"FOC123", (2,): b"LIT9"},
        "software_rev": {(1,): b"15.2(7)E8"},
        "firmware_rev": {(1,): b"boot 1"},
    }
    rows = entities(cols)
    assert [r["class"] for r in rows] == ["chassis", "power_supply"]
    assert chassis_summary(rows) == {
        "model": "WS-C2960X-48FPD-L",
        "serial": "FOC123",
        "firmware": "15.2(7)E8",
    }
    assert chassis_summary([]) == {}


def test_forwarding_table_prefers_q_bridge_and_maps_bridge_ports_to_names() -> None:
    mac = (0, 0x1A, 0x2B, 0x3C, 0x4D, 0x01)
    own = (0, 0x1A, 0x2B, 0, 0, 0xFF)
    cols: dict[str, Column] = {
        "base_port_ifindex": {(1,): 1, (2,): 47},
        "dot1q_port": {(10, *mac): 1, (1, *own): 2, (1, 1, 2, 3, 4, 5, 6): 2},
        "dot1q_status": {(10, *mac): 3, (1, *own): 4, (1, 1, 2, 3, 4, 5, 6): 3},
        "dot1d_port": {mac: 1},
    }
    assert forwarding_table(cols, PORTS) == [
        {"mac": "00:1a:2b:3c:4d:01", "port": "Gi1/0/1", "if_index": 1, "vlan": 10},
        {"mac": "01:02:03:04:05:06", "port": "Gi1/0/47", "if_index": 47, "vlan": 1},
    ]


def test_forwarding_table_falls_back_to_bridge_mib() -> None:
    mac = (0, 1, 2, 3, 4, 5)
    cols: dict[str, Column] = {"base_port_ifindex": {(5,): 2}, "dot1d_port": {mac: 5, (9, 9, 9, 9, 9, 9): 0}}
    assert forwarding_table(cols, PORTS) == [{"mac": "00:01:02:03:04:05", "port": "Gi1/0/2", "if_index": 2}]
