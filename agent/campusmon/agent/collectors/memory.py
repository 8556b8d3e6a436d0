"""Physical memory and swap."""

from __future__ import annotations

from typing import ClassVar

from .base import PsutilLike, Sample


class MemoryCollector:
    name: ClassVar[str] = "memory"

    def __init__(self, ps: PsutilLike) -> None:
        self._ps = ps

    def collect(self) -> list[Sample]:
        vm = self._ps.virtual_memory()
        sw = self._ps.swap_memory()
        return [
            Sample("memory_total_bytes", float(vm.total)),
            Sample("memory_available_bytes", float(vm.available)),
            Sample("memory_used_percent", round(float(vm.percent), 1)),
            Sample("swap_total_bytes", float(sw.total)),
            Sample("swap_used_bytes", float(sw.used)),
            Sample("swap_used_percent", round(float(sw.percent), 1)),
        ]
