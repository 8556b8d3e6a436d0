"""Boot time and uptime (a reboot shows as uptime going back)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import ClassVar

from .base import PsutilLike, Sample


class UptimeCollector:
    name: ClassVar[str] = "uptime"

    def __init__(self, ps: PsutilLike, clock: Callable[[], float] = time.time) -> None:
        self._ps = ps
        self._clock = clock

    def collect(self) -> list[Sample]:
        boot = float(self._ps.boot_time())
        return [
            Sample("boot_time_seconds", boot),
            Sample("uptime_seconds", round(max(0.0, self._clock() - boot), 0)),
        ]
