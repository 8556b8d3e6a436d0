"""The register as an Ansible inventory: groups by campus, building, room and type, with hints."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import Any

from .models import Asset

_NON_WORD = re.compile(r"[^0-9a-zA-Z_]+")


def group_name(part: str) -> str:
    """Ansible group names are identifiers (letters, digits, _): a non-ASCII name keeps its ASCII
    letters plus a short stable hash, and the group's `campusmon_name` var holds the real name."""
    ascii_part = _NON_WORD.sub("_", part.encode("ascii", "ignore").decode()).strip("_").lower()
    if part.isascii() and ascii_part:
        return ascii_part
    digest = hashlib.sha1(part.encode("utf-8"), usedforsecurity=False).hexdigest()[:6]
    return f"{ascii_part}_{digest}" if ascii_part else digest


def host_name(a: Asset) -> str:
    return a.link_device or a.asset_tag or a.hostname or f"asset-{a.id}"


def host_vars(a: Asset) -> dict[str, Any]:
    hv: dict[str, Any] = {"campusmon_asset_id": a.id, "campusmon_type": a.type}
    if a.ip:
        hv["ansible_host"] = a.ip
    if a.os_family:
        hv["campusmon_os_family"] = a.os_family
        if a.os_family == "windows":
            hv["ansible_shell_type"] = "powershell"
    if a.asset_tag:
        hv["campusmon_asset_tag"] = a.asset_tag
    if a.link_campus:
        hv["campusmon_campus"] = a.link_campus
    if a.link_device:
        hv["campusmon_device"] = a.link_device
    if a.room is not None:
        hv["campusmon_room"] = a.room.path
    return hv


def build_inventory(assets: Iterable[Asset]) -> dict[str, Any]:
    """Dynamic-inventory JSON (`--list`): campus_X ⊃ building ⊃ room groups, type_X groups, _meta."""
    groups: dict[str, dict[str, Any]] = {}
    hostvars: dict[str, dict[str, Any]] = {}

    def group(name: str) -> dict[str, Any]:
        return groups.setdefault(name, {"hosts": [], "children": []})

    def child(parent: str, name: str, label: str = "") -> None:
        g = group(name)
        if label:
            g["vars"] = {"campusmon_name": label}
        if name not in group(parent)["children"]:
            group(parent)["children"].append(name)

    for a in assets:
        if a.status in ("retired", "lost"):
            continue
        host = host_name(a)
        hostvars[host] = host_vars(a)
        campus = a.room.building.campus.name if a.room else (a.campus.name if a.campus else "")
        leaf = "ungrouped"
        if campus:
            leaf = "campus_" + group_name(campus)
            child("all", leaf, campus)
            if a.room is not None:
                b = leaf.replace("campus_", "building_", 1) + "_" + group_name(a.room.building.name)
                child(leaf, b, f"{campus}/{a.room.building.name}")
                r = b.replace("building_", "room_", 1) + "_" + group_name(a.room.name)
                child(b, r, a.room.path)
                leaf = r
        group(leaf)["hosts"].append(host)
        t = "type_" + group_name(a.type)
        child("all", t)
        group(t)["hosts"].append(host)
    group("all")
    out: dict[str, Any] = {}
    for name in sorted(groups):
        g = groups[name]
        entry: dict[str, Any] = {}
        if g["hosts"]:
            entry["hosts"] = sorted(set(g["hosts"]))
        if g["children"]:
            entry["children"] = sorted(g["children"])
        if g.get("vars"):
            entry["vars"] = g["vars"]
        out[name] = entry
    out["_meta"] = {"hostvars": dict(sorted(hostvars.items()))}
    return out


def _ini_value(v: Any) -> str:
    text = str(v)
    return f'"{text}"' if any(ch in text for ch in " #;=\"'") else text


def render_ini(inv: dict[str, Any]) -> str:
    hostvars: dict[str, dict[str, Any]] = inv["_meta"]["hostvars"]
    lines: list[str] = []
    written: set[str] = set()
    for name, g in inv.items():
        if name == "_meta":
            continue
        if g.get("hosts"):
            lines.append(f"[{name}]")
            for h in g["hosts"]:
                if h in written:
                    lines.append(h)
                    continue
                written.add(h)
                pairs = " ".join(f"{k}={_ini_value(v)}" for k, v in hostvars.get(h, {}).items())
                lines.append(f"{h} {pairs}".rstrip())
            lines.append("")
        if g.get("children"):
            lines.append(f"[{name}:children]")
            lines.extend(g["children"])
            lines.append("")
        if g.get("vars"):
            lines.append(f"[{name}:vars]")
            lines.extend(f"{k}={_ini_value(v)}" for k, v in g["vars"].items())
            lines.append("")
    return "\n".join(lines)
