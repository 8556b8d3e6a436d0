"""ENTITY-MIB (model, serial, firmware) and BRIDGE/Q-BRIDGE forwarding tables into an inventory.

Pure logic over walked columns; `snmp.py` does the walking.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .ifmib import Column, Port, text

ENT: Final = "1.3.6.1.2.1.47.1.1.1.1"
ENTITY_COLUMNS: Final[dict[str, str]] = {
    "descr": f"{ENT}.2",
    "contained_in": f"{ENT}.4",
    "class": f"{ENT}.5",
    "name": f"{ENT}.7",
    "hardware_rev": f"{ENT}.8",
    "firmware_rev": f"{ENT}.9",
    "software_rev": f"{ENT}.10",
    "serial": f"{ENT}.11",
    "manufacturer": f"{ENT}.12",
    "model": f"{ENT}.13",
}
FDB_COLUMNS: Final[dict[str, str]] = {
    "base_port_ifindex": "1.3.6.1.2.1.17.1.4.1.2",
    "dot1d_port": "1.3.6.1.2.1.17.4.3.1.2",
    "dot1d_status": "1.3.6.1.2.1.17.4.3.1.3",
    "dot1q_port": "1.3.6.1.2.1.17.7.1.2.2.1.2",
    "dot1q_status": "1.3.6.1.2.1.17.7.1.2.2.1.3",
}
ENTITY_CLASSES: Final = {
    1: "other",
    2: "unknown",
    3: "chassis",
    4: "backplane",
    5: "container",
    6: "power_supply",
    7: "fan",
    8: "sensor",
    9: "module",
    10: "port",
    11: "stack",
    12: "cpu",
}
#: dot1dTpFdbStatus values that are the switch's own or management entries, not learned hosts
OWN_ENTRIES: Final = frozenset({4, 5})


def entities(cols: Mapping[str, Column]) -> list[dict[str, Any]]:
    """entPhysicalTable rows, without ports (a 48-port switch would list 48 uninteresting rows)."""
    indexes = sorted({s[0] for c in cols.values() for s in c if len(s) == 1})
    rows: list[dict[str, Any]] = []
    for i in indexes:
        cls_num = cols.get("class", {}).get((i,))
        cls = ENTITY_CLASSES.get(cls_num, "unknown") if isinstance(cls_num, int) else "unknown"
        if cls == "port":
            continue
        row: dict[str, Any] = {"index": i, "class": cls}
        for key in (
            "name",
            "descr",
            "model",
            "serial",
            "manufacturer",
            "hardware_rev",
            "firmware_rev",
            "software_rev",
        ):
            value = text(cols.get(key, {}).get((i,)))
            if value:
                row[key] = value
        contained = cols.get("contained_in", {}).get((i,))
        if isinstance(contained, int):
            row["contained_in"] = contained
        rows.append(row)
    return rows


def chassis_summary(rows: list[dict[str, Any]]) -> dict[str, str]:
    """Model, serial and firmware of the device: the top-level chassis (or stack), else the first row."""
    tops = [r for r in rows if r.get("class") in ("chassis", "stack") and r.get("serial")]
    top = tops[0] if tops else next((r for r in rows if r.get("serial") or r.get("model")), None)
    if top is None:
        return {}
    out: dict[str, str] = {}
    for key, sources in (
        ("model", ("model", "descr")),
        ("serial", ("serial",)),
        ("firmware", ("software_rev", "firmware_rev")),
        ("manufacturer", ("manufacturer",)),
        ("hardware_rev", ("hardware_rev",)),
    ):
        for s in sources:
            if top.get(s):
                out[key] = str(top[s])
                break
    return out


def _mac(octets: tuple[int, ...]) -> str:
    return ":".join(f"{b:02x}" for b in octets)


def forwarding_table(cols: Mapping[str, Column], ports: list[Port]) -> list[dict[str, Any]]:
    """Learned MAC → port (ifName), from Q-BRIDGE where the switch has it, else BRIDGE-MIB."""
    names = {p.index: p.name for p in ports}
    base = cols.get("base_port_ifindex", {})

    def port_name(bridge_port: int) -> tuple[str, int | None]:
        ifindex = base.get((bridge_port,))
        if isinstance(ifindex, int):
            return names.get(ifindex, f"if{ifindex}"), ifindex
        return f"bridge-port-{bridge_port}", None

    entries: dict[tuple[str, int | None], dict[str, Any]] = {}
    q_ports, q_status = cols.get("dot1q_port", {}), cols.get("dot1q_status", {})
    for suffix, bport in q_ports.items():
        if len(suffix) != 7 or not isinstance(bport, int) or bport == 0:
            continue
        if q_status.get(suffix) in OWN_ENTRIES:
            continue
        vlan, mac = suffix[0], _mac(suffix[1:])
        name, ifindex = port_name(bport)
        entries[(mac, vlan)] = {"mac": mac, "port": name, "if_index": ifindex, "vlan": vlan}
    if not entries:
        d_ports, d_status = cols.get("dot1d_port", {}), cols.get("dot1d_status", {})
        for suffix, bport in d_ports.items():
            if len(suffix) != 6 or not isinstance(bport, int) or bport == 0:
                continue
            if d_status.get(suffix) in OWN_ENTRIES:
                continue
            mac = _mac(suffix)
            name, ifindex = port_name(bport)
            entries[(mac, None)] = {"mac": mac, "port": name, "if_index": ifindex}
    return sorted(entries.values(), key=lambda e: (e["mac"], e.get("vlan") or 0))
