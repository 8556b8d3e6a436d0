"""Hardware and software inventory, and the hardware facts the device identity comes from."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from ..identity import HardwareFacts


class InventoryUnavailable(RuntimeError):
    """The OS would not tell (PowerShell missing or timed out, ...)."""


def collect(ps: Any, platform: str = sys.platform) -> tuple[dict[str, Any], HardwareFacts]:
    """(inventory, hardware facts) for this machine."""
    if platform == "win32":
        from . import windows

        return windows.collect()
    from . import linux

    return linux.collect(ps)


def device_type(configured: str, ps: Any, platform: str = sys.platform, root: Path = Path("/")) -> str | None:
    """The machine's type for the register: as configured, else `panel` when a touch screen is
    attached (a classroom panel), else None (the server decides: pc, or server by its OS)."""
    if configured != "auto":
        return configured
    from ..collectors.base import CollectorUnavailable
    from ..collectors.peripherals import PeripheralsCollector

    try:
        found = PeripheralsCollector(ps, platform=platform, root=root).scan()
    except CollectorUnavailable:
        return None
    return "panel" if found.touchscreens else None
