"""Classroom panel peripherals: connected displays, touch screens, document cameras (USB video).

Linux reads /sys (cheap, every report). Windows asks PlugAndPlay through one bounded PowerShell call,
at most every `WINDOWS_REFRESH_SECONDS`, because starting PowerShell costs about a CPU second.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from .base import CollectorUnavailable, PsutilLike, Sample

#: INPUT_PROP_DIRECT: the device is a screen you touch (touch screens, pen displays)
INPUT_PROP_DIRECT = 0x02
USB_CLASS_VIDEO = "0e"
WINDOWS_REFRESH_SECONDS = 300.0
WINDOWS_TIMEOUT_SECONDS = 20.0

WINDOWS_SCRIPT = r"""
$ErrorActionPreference = 'SilentlyContinue'
[Console]::OutputEncoding = [System.Text.Encoding]::UTF8
$f = "PNPClass='Monitor' OR PNPClass='Camera' OR PNPClass='Image' OR PNPClass='HIDClass'"
@(Get-CimInstance Win32_PnPEntity -Filter $f | Select-Object Name, PNPClass, PNPDeviceID, Status) |
  ConvertTo-Json -Depth 2 -Compress
"""


@dataclass(frozen=True, slots=True)
class Peripherals:
    """How many displays, touch screens and cameras are attached."""

    displays: int
    touchscreens: int
    cameras: int


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def scan_linux(root: Path = Path("/")) -> Peripherals:
    drm = root / "sys/class/drm"
    displays = sum(
        1
        for c in (drm.iterdir() if drm.is_dir() else ())
        if "-" in c.name and _read(c / "status") == "connected"
    )
    touch = 0
    inputs = root / "sys/class/input"
    for dev in inputs.iterdir() if inputs.is_dir() else ():
        if not dev.name.startswith("input"):
            continue
        try:
            props = int(_read(dev / "properties") or "0", 16)
        except ValueError:
            continue
        if props & INPUT_PROP_DIRECT:
            touch += 1
    usb = root / "sys/bus/usb/devices"
    cams = set()
    for intf in usb.iterdir() if usb.is_dir() else ():
        if ":" in intf.name and _read(intf / "bInterfaceClass") == USB_CLASS_VIDEO:
            cams.add(intf.name.split(":", 1)[0])  # one camera has several video interfaces
    return Peripherals(displays, touch, len(cams))


def parse_windows(doc: Any) -> Peripherals:
    from ..inventory.windows import as_list

    displays = touch = cams = 0
    for dev in as_list(doc):
        if str(dev.get("Status") or "") != "OK":
            continue
        klass = str(dev.get("PNPClass") or "")
        name = str(dev.get("Name") or "").lower()
        pnp = str(dev.get("PNPDeviceID") or "").upper()
        if klass == "Monitor":
            displays += 1
        elif klass in ("Camera", "Image") and pnp.startswith("USB\\"):
            cams += 1
        elif klass == "HIDClass" and "touch screen" in name:
            touch += 1
    return Peripherals(displays, touch, cams)


class PeripheralsCollector:
    name: ClassVar[str] = "peripherals"

    def __init__(
        self,
        ps: PsutilLike,
        *,
        platform: str = sys.platform,
        root: Path = Path("/"),
        windows_query: Callable[[], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._platform = platform
        self._root = root
        self._windows_query = windows_query or self._powershell
        self._clock = clock
        self._cached: tuple[float, Peripherals] | None = None

    @staticmethod
    def _powershell() -> Any:
        from ..inventory.windows import run_powershell

        return run_powershell(WINDOWS_SCRIPT, timeout=WINDOWS_TIMEOUT_SECONDS)

    def scan(self) -> Peripherals:
        if self._platform.startswith("linux"):
            return scan_linux(self._root)
        if self._platform != "win32":
            raise CollectorUnavailable(f"no peripheral scan on {self._platform}")
        now = self._clock()
        if self._cached is not None and now - self._cached[0] < WINDOWS_REFRESH_SECONDS:
            return self._cached[1]
        from ..inventory import InventoryUnavailable

        try:
            found = parse_windows(self._windows_query())
        except InventoryUnavailable as exc:
            raise CollectorUnavailable(str(exc)) from exc
        self._cached = (now, found)
        return found

    def collect(self) -> list[Sample]:
        found = self.scan()
        return [
            Sample("display_connected_count", float(found.displays)),
            Sample("touchscreen_count", float(found.touchscreens)),
            Sample("usb_camera_count", float(found.cameras)),
        ]
