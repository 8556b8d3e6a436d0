"""The top processes by CPU and by memory: what is slowing this classroom PC down.

On Linux one read of /proc/<pid>/stat per process gives name, CPU time and RSS (about a tenth of
what psutil's per-process calls cost); elsewhere psutil.process_iter does it.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar, Literal

from .base import PsutilLike, Sample

TOP_N = 5
_ATTRS = ["name", "cpu_percent", "memory_info"]
#: (pid, name, cpu percent, rss bytes)
Row = tuple[int, str, float, float]


def read_proc_stat(proc: Path) -> dict[tuple[int, int], tuple[str, int, int]]:
    """(pid, start time) -> (name, utime+stime ticks, rss pages) for every process under `proc`."""
    out: dict[tuple[int, int], tuple[str, int, int]] = {}
    root = str(proc)
    try:
        names = os.listdir(root)
    except OSError:
        return out
    for entry in names:
        if not entry.isdigit():
            continue
        try:  # plain os calls: this runs for every process every report
            fd = os.open(f"{root}/{entry}/stat", os.O_RDONLY)
            try:
                raw = os.read(fd, 4096)
            finally:
                os.close(fd)
        except OSError:
            continue  # exited meanwhile
        left, right = raw.find(b"("), raw.rfind(b")")
        fields = raw[right + 2 :].split()
        if left < 0 or len(fields) < 22:
            continue
        # fields after the name start at field 3 (state): utime=14, stime=15, starttime=22, rss=24
        ticks = int(fields[11]) + int(fields[12])
        out[(int(entry), int(fields[19]))] = (
            raw[left + 1 : right].decode("utf-8", "replace"),
            ticks,
            int(fields[21]),
        )
    return out


class ProcessesCollector:
    name: ClassVar[str] = "processes"

    def __init__(
        self,
        ps: PsutilLike,
        *,
        source: Literal["auto", "proc", "psutil"] = "auto",
        proc_root: Path = Path("/proc"),
        clock: Callable[[], float] = time.monotonic,
        ticks_per_second: int | None = None,
        page_size: int | None = None,
    ) -> None:
        self._ps = ps
        if source == "auto":
            linux = sys.platform.startswith("linux") and (proc_root / "self/stat").exists()
            source = "proc" if linux else "psutil"
        self._proc = proc_root if source == "proc" else None
        self._clock = clock
        self._hz = ticks_per_second or (os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100)
        self._page = page_size or (os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096)
        self._last: tuple[float, dict[tuple[int, int], int]] | None = None
        if self._proc is None:
            # psutil keeps the Process objects between calls: cpu_percent is measured since the last one
            for _ in self._ps.process_iter(_ATTRS):
                pass
        else:
            self._rows_from_proc()

    def _rows_from_proc(self) -> list[Row]:
        assert self._proc is not None
        now = self._clock()
        stats = read_proc_stat(self._proc)
        previous = self._last
        self._last = (now, {key: ticks for key, (_, ticks, _) in stats.items()})
        rows = []
        for key, (name, ticks, rss_pages) in stats.items():
            cpu = 0.0
            if previous is not None and now > previous[0] and key in previous[1]:
                cpu = 100.0 * (ticks - previous[1][key]) / self._hz / (now - previous[0])
            rows.append((key[0], name, max(cpu, 0.0), float(rss_pages * self._page)))
        return rows

    def _rows_from_psutil(self) -> list[Row]:
        rows = []
        for proc in self._ps.process_iter(_ATTRS):
            info: dict[str, Any] = proc.info
            mem = info.get("memory_info")
            rss = float(mem.rss) if mem is not None else 0.0
            rows.append((proc.pid, str(info.get("name") or "?"), float(info.get("cpu_percent") or 0.0), rss))
        return rows

    def collect(self) -> list[Sample]:
        rows = self._rows_from_proc() if self._proc is not None else self._rows_from_psutil()
        samples = [Sample("processes_count", float(len(rows)))]
        rows = [r for r in rows if r[0] != 0]  # the idle "process" on Windows is not a hog
        by_cpu = sorted(rows, key=lambda r: (-r[2], r[0]))[:TOP_N]
        by_mem = sorted(rows, key=lambda r: (-r[3], r[0]))[:TOP_N]
        for top, ranked in (("cpu", by_cpu), ("memory", by_mem)):
            for rank, (pid, name, cpu, rss) in enumerate(ranked, 1):
                labels = (("top", top), ("rank", str(rank)), ("name", name), ("pid", str(pid)))
                samples.append(Sample("process_cpu_percent", round(cpu, 1), labels))
                samples.append(Sample("process_memory_rss_bytes", rss, labels))
        return samples
