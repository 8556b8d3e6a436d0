"""What changed between two inventories of one device: RAM module removed, disk swapped, OS upgraded…

Pure logic: `diff_inventory(old, new)` returns the component changes the register writes to the asset's
history and hands to the rule engine (a missing RAM module or document camera is often a theft).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from .identity import clean, normalize_mac

Action = Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class Change:
    #: hostname, os, cpu, bios, smbios, memory, memory_module, disk, nic, monitor, usb
    component: str
    action: Action
    #: what the item is ("DIMM1 8 GiB serial 1A2B", "disk WD10EZEX serial WD-123")
    item: str
    old: str | None = None
    new: str | None = None

    @property
    def field(self) -> str:
        """The history field name: inventory.<component>."""
        return f"inventory.{self.component}"

    @property
    def summary(self) -> str:
        if self.action == "changed":
            return f"{self.component} changed: {self.old} → {self.new}"
        return f"{self.component} {self.action}: {self.item}"


def _gib(value: Any) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        gib = value / 2**30
        return f"{gib:.0f} GiB" if gib >= 1 else f"{value / 2**20:.0f} MiB"
    return ""


def _s(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _items(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _section(inv: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = inv.get(name)
    return value if isinstance(value, Mapping) else {}


def _memory_modules(inv: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    mem = inv.get("memory")
    if isinstance(mem, Mapping):
        return _items(mem.get("modules"))
    return _items(inv.get("memory_modules"))


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


def _module(m: Mapping[str, Any]) -> tuple[str, str, str]:
    """(identity key, slot, description) of a RAM module."""
    slot = _s(m.get("slot") or m.get("locator") or m.get("bank"))
    size = _gib(m.get("size_bytes") or m.get("capacity_bytes"))
    serial = clean(m.get("serial"))
    part = _s(m.get("part_number") or m.get("model"))
    key = f"serial:{serial}" if serial else f"slot:{slot}|{size}|{part}"
    return key, slot, _join(slot, size, part, f"serial {serial}" if serial else "")


def _disk(d: Mapping[str, Any]) -> tuple[str, str, str]:
    name = _s(d.get("name") or d.get("device"))
    model = _s(d.get("model"))
    serial = clean(d.get("serial"))
    size = _gib(d.get("size_bytes"))
    key = f"serial:{serial}" if serial else f"disk:{name}|{model}|{size}"
    return key, name, _join(name, model, size, f"serial {serial}" if serial else "")


def _nic(n: Mapping[str, Any]) -> tuple[str, str, str]:
    mac = normalize_mac(n.get("mac")) or _s(n.get("mac"))
    name = _s(n.get("name"))
    return f"mac:{mac}", "", _join(name, mac)


def _monitor(m: Mapping[str, Any]) -> tuple[str, str, str]:
    maker = _s(m.get("manufacturer") or m.get("vendor"))
    model = _s(m.get("model") or m.get("name") or m.get("product"))
    serial = clean(m.get("serial"))
    key = f"serial:{serial}" if serial else f"monitor:{maker}|{model}"
    return key, "", _join(maker, model, f"serial {serial}" if serial else "")


def _usb(u: Mapping[str, Any]) -> tuple[str, str, str]:
    vid, pid = _s(u.get("vid") or u.get("vendor_id")), _s(u.get("pid") or u.get("product_id"))
    usb_id = _s(u.get("id") or u.get("usb_id")) or (f"{vid}:{pid}" if vid or pid else "")
    name = _s(u.get("name") or u.get("product") or u.get("description"))
    serial = clean(u.get("serial"))
    key = f"usb:{usb_id}|{name}|{serial or ''}"
    return key, "", _join(name, f"[{usb_id}]" if usb_id else "", f"serial {serial}" if serial else "")


Describer = Callable[[Mapping[str, Any]], tuple[str, str, str]]


def _take(described: list[tuple[str, str, str]], surplus: Counter[str]) -> list[tuple[str, str, str]]:
    out = []
    for d in described:
        if surplus[d[0]] > 0:
            surplus[d[0]] -= 1
            out.append(d)
    return out


def _diff_items(
    component: str, old: list[Mapping[str, Any]], new: list[Mapping[str, Any]], describe: Describer
) -> list[Change]:
    """Multiset difference; a removal and an addition in the same slot is one `changed`."""
    old_d = [describe(i) for i in old]
    new_d = [describe(i) for i in new]
    removed = Counter(k for k, _, _ in old_d) - Counter(k for k, _, _ in new_d)
    added = Counter(k for k, _, _ in new_d) - Counter(k for k, _, _ in old_d)
    gone, came = _take(old_d, removed), _take(new_d, added)
    out: list[Change] = []
    for g in list(gone):
        pair = next((c for c in came if g[1] and c[1] == g[1]), None)
        if pair is not None:
            gone.remove(g)
            came.remove(pair)
            out.append(Change(component, "changed", g[1], g[2], pair[2]))
    out.extend(Change(component, "removed", g[2], old=g[2]) for g in gone)
    out.extend(Change(component, "added", c[2], new=c[2]) for c in came)
    return out


def _os(inv: Mapping[str, Any]) -> str:
    os_ = inv.get("os")
    if isinstance(os_, Mapping):
        return _join(_s(os_.get("name")), _s(os_.get("version")), _s(os_.get("release") or os_.get("build")))
    return _s(os_)


def _cpu(inv: Mapping[str, Any]) -> str:
    cpu = inv.get("cpu")
    if isinstance(cpu, Mapping):
        return _s(cpu.get("model"))
    return _s(cpu)


def _bios(inv: Mapping[str, Any]) -> str:
    bios = _section(inv, "bios")
    return _join(_s(bios.get("vendor")), _s(bios.get("version"))) if bios else _s(inv.get("bios"))


def _smbios(inv: Mapping[str, Any]) -> str:
    sm = _section(inv, "smbios")
    return _join(*(_s(sm.get(k)) for k in ("vendor", "product", "serial", "uuid")))


def _memory_total(inv: Mapping[str, Any]) -> str:
    mem = _section(inv, "memory")
    return _gib(mem.get("total_bytes"))


def diff_inventory(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> list[Change]:
    """Component changes from `old` to `new`; nothing for a first inventory or a missing section."""
    if not old:
        return []
    out: list[Change] = []
    scalars: list[tuple[str, Callable[[Mapping[str, Any]], str]]] = [
        ("hostname", lambda inv: _s(inv.get("hostname"))),
        ("os", _os),
        ("cpu", _cpu),
        ("bios", _bios),
        ("smbios", _smbios),
    ]
    for component, read in scalars:
        a, b = read(old), read(new)
        if a and b and a != b:
            out.append(Change(component, "changed", component, a, b))
    modules_old, modules_new = _memory_modules(old), _memory_modules(new)
    if modules_old or modules_new:
        if "memory" in new or "memory_modules" in new:
            out.extend(_diff_items("memory_module", modules_old, modules_new, _module))
    else:
        a, b = _memory_total(old), _memory_total(new)
        if a and b and a != b:
            out.append(Change("memory", "changed", "memory", a, b))
    lists: list[tuple[str, str, Describer]] = [
        ("disks", "disk", _disk),
        ("nics", "nic", _nic),
        ("monitors", "monitor", _monitor),
        ("usb", "usb", _usb),
    ]
    for section, component, describe in lists:
        if isinstance(new.get(section), list) and isinstance(old.get(section), list):
            # a section the agent could not read this time is not a removal
            out.extend(_diff_items(component, _items(old[section]), _items(new[section]), describe))
    return out
