"""One report as InfluxDB line protocol: a line per metric-group instance (pure, no I/O).

    cpu,campus=main,device=c302-panel,room=c302 cpu_usage_percent=28,cpu_count=4 1763856000
    disk,campus=main,device=c302-panel,mount=C:\\\\ disk_used_bytes=201851187200,… 1763856000

Measurement: the metric group; tags: campus, building, room, device, device_type and the instance's
labels (a label named like one of those gets a `label_` prefix); fields: the metrics, always floats (a
field must keep one type in InfluxDB); timestamp: the report's, in seconds. VictoriaMetrics names the
series `<measurement>_<field>` (`cpu_cpu_usage_percent`).
"""

from __future__ import annotations

import math
from typing import Final

from campusmon.contract import Metrics

from .model import Placement

PLACEMENT_TAGS: Final = ("campus", "building", "room", "device", "device_type")
_TAG = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\\": "\\\\", "\n": r"\ ", "\r": r"\ "})
_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\\": "\\\\", "\n": r"\ ", "\r": r"\ "})


def tag(text: str) -> str:
    """Escape a tag key, tag value or field key."""
    return text.translate(_TAG)


def number(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))  # no `i` suffix: still a float field
    return repr(value)


def report_lines(report: Metrics, placement: Placement | None = None) -> list[str]:
    base = {"campus": report.campus, "device": report.device}
    if placement is not None:
        for name, where in (
            ("building", placement.building),
            ("room", placement.room),
            ("device_type", placement.device_type),
        ):
            if where:
                base[name] = where
    ts = str(int(report.ts))
    lines: list[str] = []
    for group, data in report.metrics.items():
        measurement = group.translate(_MEASUREMENT)
        for inst in [data] if isinstance(data, dict) else data:
            tags = dict(base)
            fields: list[str] = []
            for key, value in inst.items():
                if isinstance(value, str):
                    if value:
                        tags[f"label_{key}" if key in PLACEMENT_TAGS else key] = value
                elif isinstance(value, bool):
                    fields.append(f"{tag(key)}={1 if value else 0}")
                elif isinstance(value, int | float):
                    try:
                        v = float(value)
                    except OverflowError:
                        continue
                    if math.isfinite(v):
                        fields.append(f"{tag(key)}={number(v)}")
            if not fields:
                continue
            tag_text = ",".join(f"{tag(k)}={tag(tags[k])}" for k in sorted(tags))
            lines.append(f"{measurement},{tag_text} {','.join(fields)} {ts}")
    return lines
