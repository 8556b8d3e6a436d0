"""CPU usage (total and per core) and load averages where the OS has them."""

from __future__ import annotations

from typing import ClassVar

from .base import PsutilLike, Sample


class CpuCollector:
    name: ClassVar[str] = "cpu"

    def __init__(self, ps: PsutilLike) -> None:
        self._ps = ps
        # the first call primes psutil's counters; later calls measure since the previous one
        self._ps.cpu_percent(interval=None, percpu=True)

    def collect(self) -> list[Sample]:
        per_core: list[float] = self._ps.cpu_percent(interval=None, percpu=True)
        total = sum(per_core) / len(per_core) if per_core else 0.0
        samples = [
            Sample("cpu_usage_percent", round(total, 1)),
            Sample("cpu_count", float(len(per_core))),
        ]
        samples += [
            Sample("cpu_core_usage_percent", round(v, 1), (("core", str(i)),)) for i, v in enumerate(per_core)
        ]
        getloadavg = getattr(self._ps, "getloadavg", None)
        if getloadavg is not None:
            try:
                load1, load5, load15 = getloadavg()
            except OSError:
                pass
            else:
                samples += [
                    Sample("cpu_load1", round(load1, 2)),
                    Sample("cpu_load5", round(load5, 2)),
                    Sample("cpu_load15", round(load15, 2)),
                ]
        return samples
