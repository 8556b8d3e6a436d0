"""Linux inventory from /sys, /proc and /etc/os-release (no subprocess, no root needed except for
the SMBIOS serials/UUID, which the kernel shows to root only).

Every reader takes `root` so tests run it on a recorded copy of those files.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from ..identity import HardwareFacts, Nic

_log = logging.getLogger(__name__)

VIRTUAL_BLOCK_PREFIXES = ("loop", "ram", "zram", "dm-", "md", "sr", "fd", "nbd")
DMI_FIELDS = {
    "vendor": "sys_vendor",
    "product": "product_name",
    "serial": "product_serial",
    "uuid": "product_uuid",
    "board_vendor": "board_vendor",
    "board_product": "board_name",
    "board_serial": "board_serial",
    "bios_vendor": "bios_vendor",
    "bios_version": "bios_version",
    "bios_date": "bios_date",
}


def read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:  # missing, or readable by root only
        return None


def os_release(root: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    text = read_text(root / "etc/os-release") or read_text(root / "usr/lib/os-release") or ""
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip().strip('"')
    return values


def smbios(root: Path) -> dict[str, str]:
    base = root / "sys/class/dmi/id"
    out = {}
    for key, name in DMI_FIELDS.items():
        value = read_text(base / name)
        if value:
            out[key] = value
    return out


def cpu_info(root: Path) -> dict[str, Any]:
    model = ""
    sockets: set[str] = set()
    cores: set[tuple[str, str]] = set()
    logical = 0
    text = read_text(root / "proc/cpuinfo") or ""
    phys = core = ""
    for line in [*text.splitlines(), ""]:
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "processor":
            logical += 1
        elif key == "model name" and not model:
            model = value
        elif key == "physical id":
            phys = value
            sockets.add(value)
        elif key == "core id":
            core = value
        elif not key and (phys or core):
            cores.add((phys, core))
            phys = core = ""
    return {
        "model": model,
        "sockets": len(sockets) or 1,
        "cores": len(cores) or logical,
        "logical_cores": logical,
    }


def memory_total_bytes(root: Path) -> int:
    for line in (read_text(root / "proc/meminfo") or "").splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) * 1024
    return 0


def _udev_props(root: Path, dev_numbers: str | None) -> dict[str, str]:
    if not dev_numbers:
        return {}
    props = {}
    for line in (read_text(root / f"run/udev/data/b{dev_numbers}") or "").splitlines():
        if line.startswith("E:"):
            key, _, value = line[2:].partition("=")
            props[key] = value
    return props


def disks(root: Path) -> list[dict[str, Any]]:
    out = []
    block = root / "sys/block"
    names = sorted(p.name for p in block.iterdir()) if block.is_dir() else []
    for name in names:
        if name.startswith(VIRTUAL_BLOCK_PREFIXES):
            continue
        base = block / name
        sectors = read_text(base / "size")
        udev = _udev_props(root, read_text(base / "dev"))
        model = read_text(base / "device/model") or udev.get("ID_MODEL", "").replace("_", " ")
        serial = read_text(base / "device/serial") or udev.get("ID_SERIAL_SHORT", "")
        out.append(
            {
                "name": name,
                "model": model,
                "serial": serial,
                "size_bytes": int(sectors) * 512 if sectors and sectors.isdigit() else 0,
                "rotational": read_text(base / "queue/rotational") == "1",
                "removable": read_text(base / "removable") == "1",
            }
        )
    return out


def nic_is_builtin(root: Path, name: str) -> bool:
    """A NIC with a real device behind it that is not on a USB bus."""
    link = root / "sys/class/net" / name
    device = link / "device"
    if not device.exists():
        return False  # virtual: lo, bridges, veth, tun, wireguard
    try:
        target = os.readlink(link)
    except OSError:
        target = str(link.resolve())
    return "/usb" not in target and "/virtual/" not in target


def nics(root: Path, ps: Any) -> tuple[list[dict[str, Any]], list[Nic]]:
    """(inventory rows, identity candidates) for every interface but loopback."""
    import socket

    rows = []
    candidates = []
    addrs = ps.net_if_addrs()
    for name in sorted(addrs):
        if name == "lo":
            continue
        mac = read_text(root / "sys/class/net" / name / "address") or ""
        ips = []
        for a in addrs[name]:
            if a.family in (socket.AF_INET, socket.AF_INET6):
                ips.append(a.address.split("%", 1)[0])
            elif not mac and getattr(a.family, "name", "") in ("AF_PACKET", "AF_LINK"):
                mac = a.address
        builtin = nic_is_builtin(root, name)
        rows.append({"name": name, "mac": mac.lower(), "ips": ips, "builtin": builtin})
        candidates.append(Nic(name, mac, builtin))
    return rows, candidates


def monitors(root: Path) -> list[dict[str, Any]]:
    from .edid import parse_edid

    out = []
    drm = root / "sys/class/drm"
    for conn in sorted(drm.iterdir()) if drm.is_dir() else []:
        if "-" not in conn.name or read_text(conn / "status") != "connected":
            continue
        info: dict[str, Any] = {"connector": conn.name.split("-", 1)[1]}
        try:
            info.update(parse_edid((conn / "edid").read_bytes()))
        except OSError:
            pass
        out.append(info)
    return out


def usb_devices(root: Path) -> list[dict[str, Any]]:
    out = []
    bus = root / "sys/bus/usb/devices"
    for dev in sorted(bus.iterdir()) if bus.is_dir() else []:
        vendor = read_text(dev / "idVendor")
        if vendor is None or dev.name.startswith("usb"):  # interfaces and root hubs
            continue
        classes = {read_text(i / "bInterfaceClass") for i in dev.glob(f"{dev.name}:*")}
        out.append(
            {
                "id": f"{vendor}:{read_text(dev / 'idProduct') or ''}",
                "manufacturer": read_text(dev / "manufacturer") or "",
                "product": read_text(dev / "product") or "",
                "serial": read_text(dev / "serial") or "",
                "video": "0e" in classes,
            }
        )
    return out


def collect(ps: Any, root: Path = Path("/")) -> tuple[dict[str, Any], HardwareFacts]:
    import platform

    rel = os_release(root)
    dmi = smbios(root)
    nic_rows, nic_candidates = nics(root, ps)
    data: dict[str, Any] = {
        "hostname": read_text(root / "proc/sys/kernel/hostname") or platform.node(),
        "os": {
            "name": rel.get("NAME", "Linux"),
            "version": rel.get("VERSION_ID", ""),
            "pretty": rel.get("PRETTY_NAME", ""),
            "kernel": read_text(root / "proc/sys/kernel/osrelease") or "",
        },
        "cpu": cpu_info(root),
        # module sizes/slots come from SMBIOS type 17, which Linux shows to root only via dmidecode
        "memory": {"total_bytes": memory_total_bytes(root), "modules": []},
        "disks": disks(root),
        "nics": nic_rows,
        "smbios": dmi,
        "monitors": monitors(root),
        "usb": usb_devices(root),
    }
    facts = HardwareFacts(
        smbios_uuid=dmi.get("uuid"),
        board_serial=dmi.get("board_serial"),
        system_serial=dmi.get("serial"),
        nics=tuple(nic_candidates),
    )
    return data, facts
