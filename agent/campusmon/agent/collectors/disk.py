"""Every real (physical) filesystem: space used/free, and read/write rates per physical disk.

Rates are per whole disk: on Linux, partitions (sda1, nvme0n1p2) are skipped, they would count twice.
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from .base import CounterRates, PsutilLike, Sample

#: pseudo and read-only image filesystems that are never a "disk almost full" problem
IGNORED_FSTYPES = frozenset(
    {"squashfs", "tmpfs", "devtmpfs", "overlay", "iso9660", "udf", "proc", "sysfs", "cdfs", ""}
)


class DiskCollector:
    name: ClassVar[str] = "disk"

    def __init__(self, ps: PsutilLike, *, sys_block: Path = Path("/sys/class/block")) -> None:
        self._ps = ps
        self._rates = CounterRates()
        self._sys_block = sys_block
        self._partitions: dict[str, bool] = {}

    def _is_partition(self, dev: str) -> bool:
        known = self._partitions.get(dev)
        if known is None:
            known = self._partitions[dev] = (self._sys_block / dev / "partition").exists()
        return known

    def collect(self) -> list[Sample]:
        samples: list[Sample] = []
        seen: set[str] = set()
        for part in self._ps.disk_partitions(all=False):
            if part.fstype.lower() in IGNORED_FSTYPES or part.device in seen:
                continue
            if "cdrom" in part.opts:
                continue
            seen.add(part.device)
            try:
                usage = self._ps.disk_usage(part.mountpoint)
            except (PermissionError, OSError):
                continue  # a removable drive without media, a locked BitLocker volume
            labels = (("mount", part.mountpoint),)
            samples += [
                Sample("disk_total_bytes", float(usage.total), labels),
                Sample("disk_used_bytes", float(usage.used), labels),
                Sample("disk_free_bytes", float(usage.free), labels),
                Sample("disk_used_percent", round(float(usage.percent), 1), labels),
            ]
        try:
            io = self._ps.disk_io_counters(perdisk=True) or {}
        except (OSError, RuntimeError):
            io = {}
        for dev, counters in sorted(io.items()):
            if dev.startswith(("loop", "ram", "zram", "dm-", "sr")) or self._is_partition(dev):
                continue
            labels = (("disk", dev),)
            for metric, counter in (
                ("disk_read_bytes_per_second", counters.read_bytes),
                ("disk_write_bytes_per_second", counters.write_bytes),
            ):
                rate = self._rates.rate(metric, labels, float(counter))
                if rate is not None:
                    samples.append(Sample(metric, round(rate, 1), labels))
        return samples
