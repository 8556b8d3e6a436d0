"""The top processes by CPU and by memory: what is slowing this classroom PC down."""

from __future__ import annotations

from typing import Any, ClassVar

from .base import PsutilLike, Sample

TOP_N = 5
_ATTRS = ["name", "cpu_percent", "memory_info"]


class ProcessesCollector:
    name: ClassVar[str] = "processes"

    def __init__(self, ps: PsutilLike) -> None:
        self._ps = ps
        # psutil keeps the Process objects between calls, so cpu_percent is measured since the last one
        for _ in self._ps.process_iter(_ATTRS):
            pass

    def collect(self) -> list[Sample]:
        rows: list[tuple[int, str, float, float]] = []
        count = 0
        for proc in self._ps.process_iter(_ATTRS):
            count += 1
            info: dict[str, Any] = proc.info
            if proc.pid == 0:  # the idle "process" on Windows
                continue
            mem = info.get("memory_info")
            rss = float(mem.rss) if mem is not None else 0.0
            cpu = info.get("cpu_percent")
            rows.append((proc.pid, str(info.get("name") or "?"), float(cpu or 0.0), rss))
        samples = [Sample("processes_count", float(count))]
        by_cpu = sorted(rows, key=lambda r: (-r[2], r[0]))[:TOP_N]
        by_mem = sorted(rows, key=lambda r: (-r[3], r[0]))[:TOP_N]
        for top, ranked in (("cpu", by_cpu), ("memory", by_mem)):
            for rank, (pid, name, cpu, rss) in enumerate(ranked, 1):
                labels = (("top", top), ("rank", str(rank)), ("name", name), ("pid", str(pid)))
                samples.append(Sample("process_cpu_percent", round(cpu, 1), labels))
                samples.append(Sample("process_memory_rss_bytes", rss, labels))
        return samples
