"""Hardware and software inventory, and the hardware facts the device identity comes from."""

from __future__ import annotations

import json
import sys
from typing import Any

from ..identity import HardwareFacts
from ..lean import sha256_hex


class InventoryUnavailable(RuntimeError):
    """The OS would not tell (PowerShell missing or timed out, ...)."""


def collect(ps: Any, platform: str = sys.platform) -> tuple[dict[str, Any], HardwareFacts]:
    """(inventory, hardware facts) for this machine."""
    if platform == "win32":
        from . import windows

        return windows.collect()
    from . import linux

    return linux.collect(ps)


def content_hash(data: dict[str, Any]) -> str:
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "sha256:" + sha256_hex(canonical.encode("utf-8"))
