"""Windows inventory: one bounded PowerShell call (Get-CimInstance ... | ConvertTo-Json), parsed here.

PowerShell unrolls what a function returns: one instance arrives as an object, none as null, several
as a list; the parser takes all three. Output is forced to UTF-8 (a Chinese Windows console is GBK).
The parser is tested with outputs in that shape (tests/fixtures/agent/windows-*.json).
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from typing import Any

from ..identity import HardwareFacts, Nic
from ..idle import idle

_log = logging.getLogger(__name__)

POWERSHELL = ("powershell.exe", "-NoProfile", "-NonInteractive", "-ExecutionPolicy", "Bypass")

INVENTORY_SCRIPT = r"""
$ErrorActionPreference = 'SilentlyContinue'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
function Q($Class, $Props, $Filter, $Ns = 'root\cimv2') {
  $a = @{ Namespace = $Ns; ClassName = $Class }
  if ($Filter) { $a.Filter = $Filter }
  Get-CimInstance @a | Select-Object -Property $Props
}
$r = [ordered]@{}
$r.os = Q Win32_OperatingSystem Caption, Version, BuildNumber, OSArchitecture
$r.computer = Q Win32_ComputerSystem Name, Manufacturer, Model, TotalPhysicalMemory
$r.product = Q Win32_ComputerSystemProduct UUID, IdentifyingNumber, Vendor, Name
$r.bios = Q Win32_BIOS SMBIOSBIOSVersion, Manufacturer, SerialNumber
$r.board = Q Win32_BaseBoard Manufacturer, Product, SerialNumber
$r.cpu = Q Win32_Processor Name, NumberOfCores, NumberOfLogicalProcessors
$r.memory = Q Win32_PhysicalMemory BankLabel, DeviceLocator, Capacity, Manufacturer, PartNumber, `
  SerialNumber, Speed
$r.disks = Q Win32_DiskDrive Model, SerialNumber, Size, InterfaceType, MediaType
$r.nics = Q Win32_NetworkAdapter Name, NetConnectionID, MACAddress, PNPDeviceID 'PhysicalAdapter=True'
$r.ips = Q Win32_NetworkAdapterConfiguration MACAddress, IPAddress 'IPEnabled=True'
$r.monitors = Q WmiMonitorID ManufacturerName, UserFriendlyName, SerialNumberID, Active $null 'root\wmi'
$r.usb = Q Win32_PnPEntity Name, PNPClass, PNPDeviceID, Manufacturer, Status "PNPDeviceID LIKE 'USB\\VID%'"
$r | ConvertTo-Json -Depth 4 -Compress
"""


def powershell_args(script: str) -> list[str]:
    """-EncodedCommand (UTF-16LE, base64): no quoting of quotes and newlines through the command line."""
    import base64

    return [*POWERSHELL, "-EncodedCommand", base64.b64encode(script.encode("utf-16-le")).decode("ascii")]


#: while PowerShell runs, the agent serves its MQTT connection this often (see agent/idle.py)
IDLE_EVERY_SECONDS = 0.5


def run_powershell(script: str, *, timeout: float = 60.0, command: tuple[str, ...] | None = None) -> Any:
    """Run `script`, parse its JSON output; InventoryUnavailable on timeout, failure or bad JSON.

    `command` replaces PowerShell by another interpreter that takes the script as its last argument.
    """
    from . import InventoryUnavailable

    args = powershell_args(script) if command is None else [*command, script]
    try:
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0),  # no console flashing on a panel
        )
    except OSError as exc:
        raise InventoryUnavailable(f"cannot run PowerShell: {exc}") from exc
    deadline = time.monotonic() + timeout
    while True:
        try:
            out, err_bytes = proc.communicate(
                timeout=min(IDLE_EVERY_SECONDS, max(0.0, deadline - time.monotonic()))
            )
            break
        except subprocess.TimeoutExpired as exc:
            if time.monotonic() >= deadline:
                proc.kill()
                proc.communicate()
                raise InventoryUnavailable(f"PowerShell did not answer within {timeout:g} s") from exc
            idle()
    if proc.returncode != 0:
        err = err_bytes.decode("utf-8", "replace").strip()[:200]
        raise InventoryUnavailable(f"PowerShell exited {proc.returncode}: {err}")
    text = out.decode("utf-8-sig", "replace").strip()
    if not text:
        return None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise InventoryUnavailable(f"PowerShell printed something that is not JSON: {exc}") from exc


def as_list(value: Any) -> list[dict[str, Any]]:
    """ConvertTo-Json turns a one-element array into an object and an empty one into null."""
    if value is None:
        return []
    if isinstance(value, dict):
        return [value]
    return [v for v in value if isinstance(v, dict)]


def as_obj(value: Any) -> dict[str, Any]:
    items = as_list(value)
    return items[0] if items else {}


def _s(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def wmi_string(codes: Any) -> str:
    """WmiMonitorID strings are arrays of UTF-16 code units padded with zeros."""
    if isinstance(codes, str):
        return codes.strip()
    if not isinstance(codes, list):
        return ""
    return "".join(chr(c) for c in codes if isinstance(c, int) and 0 < c < 0x110000).strip()


def _mac(value: Any) -> str:
    return _s(value).lower().replace("-", ":")


def parse(doc: Any) -> tuple[dict[str, Any], HardwareFacts]:
    """Recorded PowerShell output -> (inventory, hardware facts)."""
    if not isinstance(doc, dict):
        doc = {}
    os_ = as_obj(doc.get("os"))
    computer = as_obj(doc.get("computer"))
    product = as_obj(doc.get("product"))
    bios = as_obj(doc.get("bios"))
    board = as_obj(doc.get("board"))
    cpus = as_list(doc.get("cpu"))
    ips_by_mac: dict[str, list[str]] = {}
    for cfg in as_list(doc.get("ips")):
        addrs = cfg.get("IPAddress") or []
        ips_by_mac[_mac(cfg.get("MACAddress"))] = [addrs] if isinstance(addrs, str) else list(addrs)
    nic_rows = []
    candidates = []
    for nic in as_list(doc.get("nics")):
        mac = _mac(nic.get("MACAddress"))
        pnp = _s(nic.get("PNPDeviceID")).upper()
        builtin = pnp.startswith("PCI\\")
        name = _s(nic.get("NetConnectionID")) or _s(nic.get("Name"))
        nic_rows.append(
            {
                "name": name,
                "description": _s(nic.get("Name")),
                "mac": mac,
                "ips": ips_by_mac.get(mac, []),
                "builtin": builtin,
            }
        )
        candidates.append(Nic(name, mac, builtin))
    data: dict[str, Any] = {
        "hostname": _s(computer.get("Name")),
        "os": {
            "name": _s(os_.get("Caption")),
            "version": _s(os_.get("Version")),
            "build": _s(os_.get("BuildNumber")),
            "arch": _s(os_.get("OSArchitecture")),
        },
        "cpu": {
            "model": _s(cpus[0].get("Name")) if cpus else "",
            "sockets": len(cpus) or 1,
            "cores": sum(_int(c.get("NumberOfCores")) for c in cpus),
            "logical_cores": sum(_int(c.get("NumberOfLogicalProcessors")) for c in cpus),
        },
        "memory": {
            "total_bytes": _int(computer.get("TotalPhysicalMemory")),
            "modules": [
                {
                    "slot": _s(m.get("DeviceLocator")) or _s(m.get("BankLabel")),
                    "size_bytes": _int(m.get("Capacity")),
                    "manufacturer": _s(m.get("Manufacturer")),
                    "part_number": _s(m.get("PartNumber")),
                    "serial": _s(m.get("SerialNumber")),
                    "speed_mhz": _int(m.get("Speed")),
                }
                for m in as_list(doc.get("memory"))
            ],
        },
        "disks": [
            {
                "model": _s(d.get("Model")),
                "serial": _s(d.get("SerialNumber")),
                "size_bytes": _int(d.get("Size")),
                "interface": _s(d.get("InterfaceType")),
                "removable": "removable" in _s(d.get("MediaType")).lower(),
            }
            for d in as_list(doc.get("disks"))
        ],
        "nics": nic_rows,
        "smbios": {
            k: v
            for k, v in {
                "vendor": _s(product.get("Vendor")) or _s(computer.get("Manufacturer")),
                "product": _s(product.get("Name")) or _s(computer.get("Model")),
                "serial": _s(product.get("IdentifyingNumber")) or _s(bios.get("SerialNumber")),
                "uuid": _s(product.get("UUID")).lower(),
                "board_vendor": _s(board.get("Manufacturer")),
                "board_product": _s(board.get("Product")),
                "board_serial": _s(board.get("SerialNumber")),
                "bios_vendor": _s(bios.get("Manufacturer")),
                "bios_version": _s(bios.get("SMBIOSBIOSVersion")),
            }.items()
            if v
        },
        "monitors": [
            {
                "maker": wmi_string(m.get("ManufacturerName")),
                "model": wmi_string(m.get("UserFriendlyName")),
                "serial": wmi_string(m.get("SerialNumberID")),
            }
            for m in as_list(doc.get("monitors"))
            if m.get("Active", True)
        ],
        "usb": [
            {
                "id": usb_id(_s(u.get("PNPDeviceID"))),
                "manufacturer": _s(u.get("Manufacturer")),
                "product": _s(u.get("Name")),
                "class": _s(u.get("PNPClass")),
                "video": _s(u.get("PNPClass")) in ("Camera", "Image"),
            }
            for u in as_list(doc.get("usb"))
        ],
    }
    facts = HardwareFacts(
        smbios_uuid=_s(product.get("UUID")) or None,
        board_serial=_s(board.get("SerialNumber")) or None,
        system_serial=(_s(product.get("IdentifyingNumber")) or _s(bios.get("SerialNumber"))) or None,
        nics=tuple(candidates),
    )
    return data, facts


def usb_id(pnp_device_id: str) -> str:
    r"""`USB\VID_0C45&PID_6366\...` -> `0c45:6366`."""
    upper = pnp_device_id.upper()
    vid = upper.partition("VID_")[2][:4]
    pid = upper.partition("PID_")[2][:4]
    return f"{vid}:{pid}".lower() if vid and pid else ""


def collect(timeout: float = 60.0) -> tuple[dict[str, Any], HardwareFacts]:
    return parse(run_powershell(INVENTORY_SCRIPT, timeout=timeout))
