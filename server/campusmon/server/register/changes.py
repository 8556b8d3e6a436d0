"""What changed between two inventories of one device: RAM module removed, disk swapped, OS upgraded…

Pure logic: `diff_inventory(old, new)` returns the component changes the register writes to the asset's
history and hands to the rule engine, which tickets the `hardware` ones (a missing RAM module or
document camera is often a theft; a new OS build, a USB stick or a virtual NIC is not).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, NamedTuple

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
    #: a hardware change worth a ticket: RAM, CPU, board, a fixed disk, a monitor, a built-in NIC,
    #: a camera or touch screen (not software, names, addresses, USB sticks or virtual NICs)
    hardware: bool = False

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


def _true(value: Any) -> bool:
    return value is True or _s(value).lower() in ("true", "1", "yes")


def _items(value: Any) -> list[Mapping[str, Any]]:
    if isinstance(value, list):
        return [v for v in value if isinstance(v, Mapping)]
    return []


def _section(inv: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = inv.get(name)
    return value if isinstance(value, Mapping) else {}


def _memory_modules(inv: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return _items(_section(inv, "memory").get("modules"))


def _join(*parts: str) -> str:
    return " ".join(p for p in parts if p)


class Described(NamedTuple):
    """How one item of a list section is told apart and shown."""

    key: str
    slot: str
    text: str
    hardware: bool = True


def _module(m: Mapping[str, Any]) -> Described:
    """(identity key, slot, description) of a RAM module."""
    slot = _s(m.get("slot") or m.get("locator") or m.get("bank"))
    size = _gib(m.get("size_bytes") or m.get("capacity_bytes"))
    serial = clean(m.get("serial"))
    part = _s(m.get("part_number") or m.get("model"))
    key = f"serial:{serial}" if serial else f"slot:{slot}|{size}|{part}"
    return Described(key, slot, _join(slot, size, part, f"serial {serial}" if serial else ""))


def _disk(d: Mapping[str, Any]) -> Described:
    name = _s(d.get("name") or d.get("device"))
    model = _s(d.get("model"))
    serial = clean(d.get("serial"))
    size = _gib(d.get("size_bytes"))
    key = f"serial:{serial}" if serial else f"disk:{name}|{model}|{size}"
    # a USB stick shows up as a removable disk: plugging it in is not a hardware change
    fixed = not _true(d.get("removable")) and _s(d.get("interface")).upper() != "USB"
    return Described(key, name, _join(name, model, size, f"serial {serial}" if serial else ""), fixed)


def _nic(n: Mapping[str, Any]) -> Described:
    mac = normalize_mac(n.get("mac")) or _s(n.get("mac"))
    name = _s(n.get("name"))
    # virtual NICs (bridges, VPNs, Hyper-V) and USB dongles come and go; a built-in one is the board
    return Described(f"mac:{mac}", "", _join(name, mac), _true(n.get("builtin")))


def _monitor(m: Mapping[str, Any]) -> Described:
    maker = _s(m.get("manufacturer") or m.get("maker") or m.get("vendor"))
    model = _s(m.get("model") or m.get("name") or m.get("product"))
    serial = clean(m.get("serial"))
    key = f"serial:{serial}" if serial else f"monitor:{maker}|{model}"
    return Described(key, "", _join(maker, model, f"serial {serial}" if serial else ""))


#: USB devices whose loss is worth a ticket: a classroom's document camera, its touch screen
_USB_WATCHED = ("camera", "touch", "webcam", "video", "visualizer", "展台", "高拍仪", "摄像")


def _usb(u: Mapping[str, Any]) -> Described:
    vid, pid = _s(u.get("vid") or u.get("vendor_id")), _s(u.get("pid") or u.get("product_id"))
    usb_id = _s(u.get("id") or u.get("usb_id")) or (f"{vid}:{pid}" if vid or pid else "")
    name = _s(u.get("name") or u.get("product") or u.get("description"))
    serial = clean(u.get("serial"))
    key = f"usb:{usb_id}|{name}|{serial or ''}"
    kind = _s(u.get("class")).lower()
    watched = (
        _true(u.get("video")) or kind in ("camera", "image") or any(w in name.lower() for w in _USB_WATCHED)
    )
    text = _join(name, f"[{usb_id}]" if usb_id else "", f"serial {serial}" if serial else "")
    return Described(key, "", text, watched)


Describer = Callable[[Mapping[str, Any]], Described]


def _take(described: list[Described], surplus: Counter[str]) -> list[Described]:
    out = []
    for d in described:
        if surplus[d.key] > 0:
            surplus[d.key] -= 1
            out.append(d)
    return out


def _diff_items(
    component: str, old: list[Mapping[str, Any]], new: list[Mapping[str, Any]], describe: Describer
) -> list[Change]:
    """Multiset difference; a removal and an addition in the same slot is one `changed`."""
    old_d = [describe(i) for i in old]
    new_d = [describe(i) for i in new]
    removed = Counter(d.key for d in old_d) - Counter(d.key for d in new_d)
    added = Counter(d.key for d in new_d) - Counter(d.key for d in old_d)
    gone, came = _take(old_d, removed), _take(new_d, added)
    out: list[Change] = []
    for g in list(gone):
        pair = next((c for c in came if g.slot and c.slot == g.slot), None)
        if pair is not None:
            gone.remove(g)
            came.remove(pair)
            out.append(Change(component, "changed", g.slot, g.text, pair.text, g.hardware or pair.hardware))
    out.extend(Change(component, "removed", g.text, old=g.text, hardware=g.hardware) for g in gone)
    out.extend(Change(component, "added", c.text, new=c.text, hardware=c.hardware) for c in came)
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


#: list sections a running, reporting machine always has at least one item of
_NEVER_EMPTY = ("disks", "nics")
#: scalar components that are hardware (hostname, OS and BIOS version are software)
_HARDWARE_SCALARS = ("cpu", "smbios")


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
            out.append(Change(component, "changed", component, a, b, component in _HARDWARE_SCALARS))
    modules_old, modules_new = _memory_modules(old), _memory_modules(new)
    # no module at all is "could not read them" (a Linux agent without root, a failed WMI query):
    # a running machine has RAM. Then only the total tells.
    if modules_old and modules_new:
        out.extend(_diff_items("memory_module", modules_old, modules_new, _module))
    else:
        a, b = _memory_total(old), _memory_total(new)
        if a and b and a != b:
            out.append(Change("memory", "changed", "memory", a, b, hardware=True))
    lists: list[tuple[str, str, Describer]] = [
        ("disks", "disk", _disk),
        ("nics", "nic", _nic),
        ("monitors", "monitor", _monitor),
        ("usb", "usb", _usb),
    ]
    for section, component, describe in lists:
        was, now = old.get(section), new.get(section)
        if not isinstance(was, list) or not isinstance(now, list):
            continue  # a section the agent could not read this time is not a removal
        if section in _NEVER_EMPTY and not (was and now):
            continue  # nor is an empty one where a machine that reports always has some
        out.extend(_diff_items(component, _items(was), _items(now), describe))
    return out
