"""Discrete happenings the agent derives from its own reports (besides buffer overflows)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

#: peripherals metric -> what a person calls it
PERIPHERALS = {
    "display_connected_count": "display",
    "touchscreen_count": "touch screen",
    "usb_camera_count": "document camera (USB video)",
}


@dataclass(frozen=True, slots=True)
class Happening:
    """An event the agent queues (kind, severity, message, data)."""

    kind: str
    severity: Literal["info", "warning", "critical"]
    message: str
    data: dict[str, Any]


def peripheral_changes(before: dict[str, Any] | None, now: dict[str, Any] | None) -> list[Happening]:
    """`peripheral_removed` (warning) / `peripheral_added` (info) between two peripherals groups."""
    if not before or not now:
        return []  # first report, or the scan failed this time: nothing to compare
    out = []
    for metric, label in PERIPHERALS.items():
        old, new = before.get(metric), now.get(metric)
        if not isinstance(old, int | float) or not isinstance(new, int | float) or old == new:
            continue
        removed = new < old
        out.append(
            Happening(
                "peripheral_removed" if removed else "peripheral_added",
                "warning" if removed else "info",
                f"{label}: {int(old)} -> {int(new)}",
                {"peripheral": metric.removesuffix("_count"), "before": int(old), "now": int(new)},
            )
        )
    return out
